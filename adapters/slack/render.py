"""Render a platform-neutral :class:`Reply` as Slack Block Kit.

Why a module of its own: the rendering rules (Slack's size limits, escaping,
state emoji) are pure functions that can be tested without a network, and the
adapter stays a thin layer of I/O.

Safety rules applied to every piece of text that reaches Slack:

* ``&``, ``<`` and ``>`` are HTML-escaped, so ``<!channel>``, ``<@U123>`` and
  ``<http://x|y>`` arrive as literal text, never as mentions or links;
* mrkdwn text objects are sent with ``verbatim: true`` so Slack does not
  auto-link channel names, URLs or bare mentions either;
* formatting characters (``*``, ``~``, stray backticks, ``_`` at word edges,
  a leading ``>``) are replaced by look-alikes so user-supplied text cannot
  turn bold, strike through, or close a code span. Inline code spans the
  dispatcher writes (```name```) are kept as code;
* inside code blocks, backticks become a look-alike so a log line cannot end
  the block early.

Limits (Slack rejects messages beyond them): 3000 characters per section text,
2000 per section field and at most 10 fields per section, 25 buttons per
actions block, 75 characters per button label, 50 blocks per message, and
about 12-13k characters of text summed over all blocks (``msg_blocks_too_long``,
undocumented, below what the per-block limits allow). Long tables and logs are
split across blocks and cut to :data:`MAX_TOTAL_TEXT` in all with a note (a
table keeps its first rows, logs their newest lines); what was cut goes into
:attr:`SlackMessage.attachment`, the whole output as a text file the adapter
uploads next to the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from adapters.text_render import Attachment, overflow_attachment, state_emoji
from core.formatting import map_stamps, plain_stamps
from core.reply import Button, Field, Reply, Table, Tone

MAX_TEXT = 3000
MAX_FIELD = 2000
MAX_FIELDS_PER_SECTION = 10
MAX_BUTTONS_PER_ACTIONS = 25
MAX_BUTTON_LABEL = 75
MAX_BUTTON_VALUE = 2000
MAX_BLOCKS = 50
#: content blocks kept before truncating (leaves room for the note and buttons)
MAX_CONTENT_BLOCKS = 40
MAX_FALLBACK = 300
#: characters of text over all blocks we send at most (Slack refuses somewhere around 12-13k)
MAX_TOTAL_TEXT = 11_000
#: room kept for the notes that say what was cut
NOTES_RESERVE = 300

#: prefix of every button's action_id; the adapter listens for this pattern
ACTION_PREFIX = "procbot:"

TONE_EMOJI = {
    Tone.INFO: ":information_source:",
    Tone.OK: ":white_check_mark:",
    Tone.WARN: ":warning:",
    Tone.ERROR: ":x:",
}


_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_LEADING_QUOTE = re.compile(r"(?m)^(\s*)&gt;")
_MRKDWN_LOOKALIKES = str.maketrans({"*": "\u2217", "~": "\u223c", "`": "\u02cb"})


@dataclass(frozen=True)
class SlackMessage:
    """What the adapter sends: Block Kit blocks plus the notification text."""

    blocks: list[dict[str, Any]]
    text: str
    #: the whole table/log as a file, when the blocks could show only part of it
    attachment: Attachment | None = None


# ---------------------------------------------------------------- escaping


def escape(text: str) -> str:
    """Slack's three reserved characters; everything else is sent as is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inert_plain(text: str) -> str:
    text = escape(text).translate(_MRKDWN_LOOKALIKES)
    text = _EDGE_UNDERSCORE.sub("\u02cd", text)
    return _LEADING_QUOTE.sub("\\1\u200b&gt;", text)


def inert(text: str) -> str:
    """Escape text for a mrkdwn object so it renders literally.

    Inline code spans (```x```) are kept as code: the dispatcher uses them
    for names and usage, and nothing inside a code span is formatted. Times
    marked with :func:`core.formatting.stamp` become Slack date tokens, which
    every reader sees in their own time zone (the fallback where Slack cannot).
    """
    return map_stamps(text, _inert_text, _date_token)


def _date_token(epoch: str, fallback: str) -> str:
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{escape(fallback)}>"


def _inert_text(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _CODE_SPAN.finditer(text):
        out.append(_inert_plain(text[pos : m.start()]))
        out.append(f"`{escape(m.group(1))}`")
        pos = m.end()
    out.append(_inert_plain(text[pos:]))
    return "".join(out)


def code_safe(text: str) -> str:
    """Escape text for a ``` code block: reserved characters, and backticks that could close it."""
    return escape(text).replace("`", "\u02cb")


# ---------------------------------------------------------------- splitting


def _hard_split(line: str, limit: int) -> list[str]:
    """Cut one escaped line into pieces of at most ``limit`` chars, never inside an ``&...;`` entity."""
    pieces: list[str] = []
    while len(line) > limit:
        cut = limit
        amp = line.rfind("&", max(0, cut - 5), cut)
        if amp != -1 and ";" not in line[amp:cut]:
            cut = amp or limit
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return pieces


def pack_lines(lines: list[str], limit: int) -> list[str]:
    """Join escaped lines into chunks of at most ``limit`` chars, splitting only at line ends if possible."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        for piece in _hard_split(line, limit):
            extra = len(piece) + (1 if current else 0)
            if current and size + extra > limit:
                chunks.append("\n".join(current))
                current, size = [], 0
                extra = len(piece)
            current.append(piece)
            size += extra
    if current:
        chunks.append("\n".join(current))
    return chunks


# ---------------------------------------------------------------- blocks


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _code_blocks(lines: list[str], header: str | None = None) -> list[dict[str, Any]]:
    """Escaped lines as ``` blocks; ``header`` (escaped) is repeated at the top of each."""
    fence = len("```\n\n```")
    budget = MAX_TEXT - fence - (len(header) + 1 if header else 0)
    blocks = []
    for chunk in pack_lines(lines, budget):
        body = f"{header}\n{chunk}" if header else chunk
        blocks.append(_section(f"```\n{body}\n```"))
    return blocks


def _text_blocks(text: str) -> list[dict[str, Any]]:
    return [_section(chunk) for chunk in pack_lines(inert(text).split("\n"), MAX_TEXT)]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _field_text(f: Field, limit: int = MAX_FIELD) -> str:
    name = inert(f.name)
    value = inert(f.value) if f.value else "\u2014"
    pieces = _hard_split(f"*{name}*\n{value}", limit - 1)
    return pieces[0] + ("\u2026" if len(pieces) > 1 else "")


def _field_blocks(fields: list[Field]) -> list[dict[str, Any]]:
    """Inline fields side by side (up to 10 per section); a wide field gets a section of its own."""
    blocks: list[dict[str, Any]] = []
    run: list[Field] = []

    def flush() -> None:
        for i in range(0, len(run), MAX_FIELDS_PER_SECTION):
            group = run[i : i + MAX_FIELDS_PER_SECTION]
            blocks.append({"type": "section", "fields": [_mrkdwn(_field_text(f)) for f in group]})
        run.clear()

    for f in fields:
        if f.inline:
            run.append(f)
            continue
        flush()
        blocks.append(_section(_field_text(f, MAX_TEXT)))
    flush()
    return blocks


def table_lines(table: Table) -> tuple[str, list[str]]:
    """The table as aligned monospace lines (raw, unescaped): header and rows.

    Column widths are measured on the raw text because Slack shows ``&lt;``
    as one character. Each row starts with its state emoji when states are given.
    """
    ncols = max([len(table.columns), *(len(r) for r in table.rows)])
    cols = [*table.columns, *[""] * (ncols - len(table.columns))]
    rows = [[*r, *[""] * (ncols - len(r))] for r in table.rows]
    widths = [max([len(cols[i]), *(len(r[i]) for r in rows)]) for i in range(ncols)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    with_emoji = bool(table.states)
    header = ("   " if with_emoji else "") + fmt(cols)
    lines = []
    for i, r in enumerate(rows):
        prefix = ""
        if with_emoji:
            prefix = state_emoji(table.states[i]) + " " if i < len(table.states) else "   "
        lines.append(prefix + fmt(r))
    return header, lines


def _table_blocks(table: Table) -> list[dict[str, Any]]:
    header, lines = table_lines(table)
    if not lines:
        return [_section(f"```\n{code_safe(header)}\n```"), _section("_(nothing to show)_")]
    return _code_blocks([code_safe(line) for line in lines], header=code_safe(header))


def _button(index: int, b: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": f"{ACTION_PREFIX}{index}",
        "text": {"type": "plain_text", "text": _clip(b.label, MAX_BUTTON_LABEL), "emoji": True},
        "value": b.value[:MAX_BUTTON_VALUE],
    }
    if b.style in ("primary", "danger"):
        element["style"] = b.style
    return element


def _action_blocks(buttons: list[Button]) -> list[dict[str, Any]]:
    elements = [_button(i, b) for i, b in enumerate(buttons)]
    return [
        {"type": "actions", "elements": elements[i : i + MAX_BUTTONS_PER_ACTIONS]}
        for i in range(0, len(elements), MAX_BUTTONS_PER_ACTIONS)
    ]


def _note(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def fallback_text(reply: Reply) -> str:
    """Plain notification text (push notifications, screen readers): title and the start of the text."""
    text = reply.title if not reply.text else f"{reply.title}: {reply.text.splitlines()[0]}"
    return inert(_clip(plain_stamps(text), MAX_FALLBACK))


def text_size(blocks: list[dict[str, Any]]) -> int:
    """Characters of every text object in ``blocks``: what Slack adds up against its total."""
    total = 0
    stack: list[Any] = [blocks]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                total += len(node["text"])
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
    return total


def _fit(lines: list[str], header: str | None, keep: str, chars: int,
         blocks: int) -> tuple[list[dict[str, Any]], int]:
    """Code blocks for as many lines as fit ``chars`` and ``blocks`` (first or last lines kept), and how many."""
    if not lines or chars <= 0 or blocks <= 0:
        return [], 0

    def build(n: int) -> list[dict[str, Any]]:
        chosen = lines[:n] if keep == "head" else lines[len(lines) - n:]
        return _code_blocks(chosen, header=header)

    def fits(out: list[dict[str, Any]]) -> bool:
        return len(out) <= blocks and text_size(out) <= chars

    full = build(len(lines))
    if fits(full):
        return full, len(lines)
    lo, hi = 0, len(lines)  # fits(build(lo)) holds, fits(build(hi)) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(build(mid)):
            lo = mid
        else:
            hi = mid
    return (build(lo), lo) if lo else ([], 0)


def _split(budget: int, want_a: int, want_b: int) -> tuple[int, int]:
    """Share ``budget`` between two wants: each gets half, and what one leaves the other may use."""
    if want_a + want_b <= budget:
        return want_a, want_b
    a = min(want_a, max(budget // 2, budget - want_b))
    return a, budget - a


def _trim_head(head: list[dict[str, Any]], chars: int) -> tuple[list[dict[str, Any]], bool]:
    """Drop text sections from the end of the head (never the title) until it fits ``chars``."""
    cut = False
    while len(head) > 1 and text_size(head) > chars:
        last = head[-1]
        over = text_size(head) - chars
        body = last.get("text", {}).get("text") if last.get("type") == "section" and "text" in last else None
        if body is not None and len(body) > over + 50:
            last["text"]["text"] = _hard_split(body, len(body) - over - 1)[0] + "\u2026"
        else:
            head.pop()
        cut = True
    return head, cut


def render(reply: Reply, total: int = MAX_TOTAL_TEXT) -> SlackMessage:
    """Blocks for ``reply``, always within Slack's limits (per block, per message, and ``total`` in all)."""
    head = [_section(f"{TONE_EMOJI.get(reply.tone, '')} *{inert(reply.title)}*".strip())]
    if reply.text:
        head += _text_blocks(reply.text)
    head += _field_blocks(reply.fields)
    actions = _action_blocks(reply.buttons)
    head, head_cut = _trim_head(head, total // 2 if (reply.table or reply.code) else
                                total - NOTES_RESERVE - text_size(actions))

    t_header, t_lines = (table_lines(reply.table) if reply.table else ("", []))
    c_lines = [code_safe(line) for line in reply.code.split("\n")] if reply.code else []
    t_safe = [code_safe(line) for line in t_lines]
    chars = total - NOTES_RESERVE - text_size(head) - text_size(actions)
    nblocks = max(0, MAX_CONTENT_BLOCKS - len(head))
    table_all = _code_blocks(t_safe, header=code_safe(t_header)) if t_lines else []
    code_all = _code_blocks(c_lines) if c_lines else []
    t_chars, c_chars = _split(chars, text_size(table_all), text_size(code_all))
    t_blocks, c_blocks = _split(nblocks, len(table_all), len(code_all))
    table, kept_rows = _fit(t_safe, code_safe(t_header), "head", t_chars, t_blocks)
    code, kept_lines = _fit(c_lines, None, "tail", c_chars, c_blocks)
    if reply.table and not t_lines:
        table = [_section(f"```\n{code_safe(t_header)}\n```"), _section("_(nothing to show)_")]

    notes: list[dict[str, Any]] = []
    dropped_rows, dropped_lines = len(t_lines) - kept_rows, len(c_lines) - kept_lines
    if dropped_rows:
        notes.append(_note(f":scissors: {dropped_rows} more rows not shown (Slack's size limit)."))
    if dropped_lines:
        notes.append(_note(f":scissors: {dropped_lines} earlier lines not shown (Slack's size limit)."))
    if head_cut and not notes:
        notes.append(_note(":scissors: the rest was cut (Slack's size limit)."))
    blocks = [*head, *table, *code, *notes, *actions]
    if len(blocks) > MAX_BLOCKS:  # only with absurd numbers of fields or buttons
        blocks = [*blocks[: MAX_BLOCKS - 1], _note(":scissors: output truncated (Slack's 50-block limit).")]
    attachment = overflow_attachment(reply) if dropped_rows or dropped_lines or head_cut else None
    return SlackMessage(blocks=blocks, text=fallback_text(reply), attachment=attachment)

