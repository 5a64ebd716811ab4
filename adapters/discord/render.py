"""Render a platform-neutral :class:`core.reply.Reply` as Discord embeds and buttons.

Everything here is pure (no network): the adapter sends what :func:`render`
returns. Two concerns shape the code:

* **Limits.** Discord rejects a whole message when one limit is exceeded
  (title 256, description 4096, 25 fields, field value 1024, 10 embeds, and
  6000 characters summed over *all* embeds of a message). We therefore pack
  into one message and cut with a visible note rather than risk an HTTP 400
  that would lose the reply entirely.
* **Inertness.** Replies echo program names, log lines and user arguments.
  Outside code blocks markdown is escaped and mentions are broken with a
  zero-width space; inside code blocks backticks are neutralised so a log
  line cannot close the fence. The adapter additionally sends every message
  with ``AllowedMentions.none()`` (see :data:`NO_MENTIONS`).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import OrderedDict
from dataclasses import dataclass

import discord
from discord.utils import escape_markdown, escape_mentions

from adapters.text_render import Attachment, overflow_attachment, row_state, state_emoji
from core.formatting import map_stamps, plain_stamps
from core.process.states import FAILED_STATES
from core.reply import STATE_TONE, Button, Reply, Tone

# Discord limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_EMBEDS = 10
MAX_TOTAL = 6000
MAX_BUTTONS = 25
MAX_LABEL = 80
MAX_CUSTOM_ID = 100
#: longest single line kept inside a code block; longer lines are cut so one
#: enormous log line cannot eat the whole message budget
MAX_CODE_LINE = 400
#: characters kept free of fields for the description when a reply has text, a table or code
FIELDS_LEAVE_FOR_BODY = 2500
#: widest table cell before it is cut with an ellipsis
MAX_CELL = 40

CUSTOM_ID_PREFIX = "procbot:"
NO_MENTIONS = discord.AllowedMentions.none()
ZWSP = "\u200b"
FENCE_OPEN = "```\n"
FENCE_CLOSE = "\n```"

TONE_COLOURS = {
    Tone.INFO: discord.Colour(0x5865F2),
    Tone.OK: discord.Colour(0x2ECC71),
    Tone.WARN: discord.Colour(0xF1C40F),
    Tone.ERROR: discord.Colour(0xE74C3C),
}
_SEVERITY = {Tone.INFO: 0, Tone.OK: 1, Tone.WARN: 2, Tone.ERROR: 3}

BUTTON_STYLES = {
    "default": discord.ButtonStyle.secondary,
    "primary": discord.ButtonStyle.primary,
    "danger": discord.ButtonStyle.danger,
}

_CODE_SPAN = re.compile(r"`[^`\n]+`")
_LINE_START_MARKUP = re.compile(r"(?m)^(\s*)([#>\-])")


@dataclass
class Rendered:
    """What one Discord message carries for a reply."""

    embeds: list[discord.Embed]
    view: discord.ui.View | None
    #: True when something had to be cut to fit Discord's limits
    truncated: bool = False
    #: the whole table/log as a file, when rows or lines had to be cut
    attachment: Attachment | None = None

    def file(self) -> discord.File | None:
        """A fresh ``discord.File`` each call: discord.py reads (and closes) one per request."""
        if self.attachment is None:
            return None
        return discord.File(io.BytesIO(self.attachment.content.encode()), filename=self.attachment.filename,
                            description=self.attachment.title[:1024])

    def send_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``send``/``send_message``/``followup.send`` (with the file, if any)."""
        kw: dict[str, object] = {"embeds": self.embeds, "allowed_mentions": NO_MENTIONS}
        if self.view is not None:
            kw["view"] = self.view
        file = self.file()
        if file is not None:
            kw["file"] = file
        return kw

    def edit_kwargs(self, *, with_file: bool = False) -> dict[str, object]:
        """Keyword arguments for edits: ``view=None`` removes stale buttons.

        Edits of alerts leave the file posted with them alone (a flapping alert must not
        upload its log again on every edit); ``with_file`` sends it where an edit is the
        first time the output is shown (a deferred command answer).
        """
        kw: dict[str, object] = {"embeds": self.embeds, "view": self.view, "allowed_mentions": NO_MENTIONS}
        file = self.file() if with_file else None
        if file is not None:
            kw["attachments"] = [file]
        return kw


# --------------------------------------------------------------------------- text safety


def inert(text: str) -> str:
    """Escape markdown and break mentions, keeping inline code spans as they are.

    Core messages quote arguments in inline code (`like this`); a code span
    renders literally (no markup, no mentions), so it is safe to keep, and
    everything between spans is escaped. Times marked with
    :func:`core.formatting.stamp` become ``<t:epoch:f>``, which Discord shows
    in each reader's own time zone.
    """
    return map_stamps(text, _inert_text, lambda epoch, _fallback: f"<t:{epoch}:f>")


def _inert_text(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _CODE_SPAN.finditer(text):
        out.append(_escape_plain(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    if not text:
        return text
    text = escape_mentions(escape_markdown(text))
    # headings, block quotes and list/subtext markers only act at the start of a line
    return _LINE_START_MARKUP.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", text)


def code_safe(line: str) -> str:
    """Neutralise backticks so a line can never close its code block."""
    return line.replace("`", "`" + ZWSP)


def _cut(text: str, limit: int, marker: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(marker))] + marker


# --------------------------------------------------------------------------- colour


def colour_for(reply: Reply) -> discord.Colour:
    """Tone colour, raised to the worst failing program state shown in the table (a running row
    leaves an info reply's colour as it is)."""
    tone = reply.tone
    if reply.table is not None:
        for state in reply.table.states:
            st = row_state(state)
            if st is not None and st in FAILED_STATES and _SEVERITY[STATE_TONE[st]] > _SEVERITY[tone]:
                tone = STATE_TONE[st]
    return TONE_COLOURS[tone]


# --------------------------------------------------------------------------- table / code


def table_lines(reply: Reply) -> list[str]:
    """The table as aligned monospace lines, each row led by its state emoji."""
    table = reply.table
    if table is None:
        return []
    cols = [code_safe(_cut(c, MAX_CELL)) for c in table.columns]
    rows = [[code_safe(_cut(str(cell), MAX_CELL)) for cell in row] for row in table.rows]
    ncols = max([len(cols), *(len(r) for r in rows)]) if (cols or rows) else 0
    cols += [""] * (ncols - len(cols))
    rows = [r + [""] * (ncols - len(r)) for r in rows]
    widths = [max([len(cols[i]), *(len(r[i]) for r in rows)]) for i in range(ncols)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    has_states = bool(table.states)
    lines = [("   " if has_states else "") + fmt(cols)]
    for i, row in enumerate(rows):
        if has_states:
            state = table.states[i] if i < len(table.states) else "unknown"
            lines.append(state_emoji(state) + " " + fmt(row))
        else:
            lines.append(fmt(row))
    return lines


def code_lines(code: str) -> list[str]:
    return [code_safe(_cut(line, MAX_CODE_LINE)) for line in code.rstrip("\n").split("\n")]


def _block_size(lines: list[str]) -> int:
    return len(FENCE_OPEN) + sum(len(line) for line in lines) + max(0, len(lines) - 1) + len(FENCE_CLOSE)


def fit_lines(lines: list[str], budget: int, *, keep: str) -> tuple[list[str], int]:
    """Keep as many lines as fit in ``budget`` characters of code blocks.

    ``keep="head"`` keeps the first lines (tables: header and first rows),
    ``keep="tail"`` the last (logs: the newest lines matter). Returns the
    kept lines and how many were dropped. The cost counts the fences of every
    block the lines need once split at :data:`MAX_DESCRIPTION`.
    """
    fences = len(FENCE_OPEN) + len(FENCE_CLOSE)
    ordered = lines if keep == "head" else list(reversed(lines))
    kept: list[str] = []
    total = 0  # all blocks so far, with one separator between blocks
    block = 0  # size of the block being filled; 0 = none yet
    for line in ordered:
        if block and block + 1 + len(line) <= MAX_DESCRIPTION:
            add, new_block = 1 + len(line), block + 1 + len(line)
        else:
            add, new_block = fences + len(line) + (1 if block else 0), fences + len(line)
        if total + add > budget:
            break
        total, block = total + add, new_block
        kept.append(line)
    if keep == "tail":
        kept.reverse()
    return kept, len(lines) - len(kept)


def split_blocks(lines: list[str]) -> list[str]:
    """Code blocks of at most :data:`MAX_DESCRIPTION` characters each."""
    blocks: list[str] = []
    current: list[str] = []
    for line in lines:
        if current and _block_size([*current, line]) > MAX_DESCRIPTION:
            blocks.append(FENCE_OPEN + "\n".join(current) + FENCE_CLOSE)
            current = []
        current.append(line)
    if current:
        blocks.append(FENCE_OPEN + "\n".join(current) + FENCE_CLOSE)
    return blocks


# --------------------------------------------------------------------------- buttons


class CustomIds:
    """Maps button values to ``custom_id`` strings and back.

    Values up to 100 characters (with the prefix) are carried verbatim, so a
    button keeps working after procbot restarts. A longer value cannot fit in
    a ``custom_id``; it gets a hash id remembered here (bounded), which works
    for as long as this process lives.
    """

    def __init__(self, prefix: str = CUSTOM_ID_PREFIX, remember: int = 1024) -> None:
        self.prefix = prefix
        self._long: OrderedDict[str, str] = OrderedDict()
        self._remember = remember

    def encode(self, value: str) -> str:
        cid = self.prefix + value
        if len(cid) <= MAX_CUSTOM_ID:
            return cid
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        cid = f"{self.prefix}#{digest}"
        self._long[cid] = value
        self._long.move_to_end(cid)
        while len(self._long) > self._remember:
            self._long.popitem(last=False)
        return cid

    def decode(self, custom_id: str) -> str | None:
        """The button value, or None if the id is not ours (or is a forgotten long one)."""
        if not custom_id.startswith(self.prefix):
            return None
        rest = custom_id[len(self.prefix) :]
        if rest.startswith("#"):
            return self._long.get(custom_id)
        return rest


def build_view(buttons: list[Button], ids: CustomIds) -> discord.ui.View | None:
    """A components-only view.

    The view is stopped before it is returned so discord.py does not keep it
    in its view store: presses are routed by the adapter's own interaction
    listener, which survives restarts (a stored view would not).
    Must be called inside a running event loop (``View`` needs one).
    """
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for b in buttons[:MAX_BUTTONS]:
        view.add_item(
            discord.ui.Button(
                label=_cut(b.label, MAX_LABEL),
                style=BUTTON_STYLES.get(b.style, discord.ButtonStyle.secondary),
                custom_id=ids.encode(b.value),
            )
        )
    view.stop()
    return view


# --------------------------------------------------------------------------- embeds


def _fields_size(embed: discord.Embed) -> int:
    return sum(len(f.name or "") + len(f.value or "") for f in embed.fields)


def _add_fields(embed: discord.Embed, reply: Reply, budget: int) -> bool:
    """Add fields up to 25 and ``budget`` characters; returns True if any were cut or left out."""
    cut = False
    fields = reply.fields
    for i, f in enumerate(fields):
        left = len(fields) - i
        note_room = len(f"{left} more not shown") + 1 if left > 1 else 0
        name = _cut(inert(plain_stamps(f.name)), MAX_FIELD_NAME) or ZWSP
        value = inert(f.value) or ZWSP
        room = min(MAX_FIELD_VALUE, budget - len(name) - note_room)
        last_slot = len(embed.fields) == MAX_FIELDS - 1 and left > 1
        if room < min(len(value), 20) or last_slot:
            embed.add_field(name="…", value=f"{left} more not shown", inline=False)
            return True
        if len(value) > room:
            cut = True
            value = _cut(value, room)
        embed.add_field(name=name, value=value, inline=f.inline)
        budget -= len(name) + len(value)
    return cut


def render(reply: Reply, ids: CustomIds | None = None) -> Rendered:
    """Reply -> embeds (one message, within every Discord limit) + buttons."""
    ids = ids or CustomIds()
    colour = colour_for(reply)
    title = _cut(inert(plain_stamps(reply.title or "procbot")), MAX_TITLE)  # titles show no <t:...>
    head = discord.Embed(title=title, colour=colour)

    has_body = bool(reply.text or reply.table or reply.code)
    truncated = _add_fields(head, reply, MAX_TOTAL - len(title) - (FIELDS_LEAVE_FOR_BODY if has_body else 0))

    budget = MAX_TOTAL - len(title) - _fields_size(head)
    sections: list[str] = []

    text = inert(reply.text) if reply.text else ""
    if text:
        limit = min(MAX_DESCRIPTION, budget, 2000 if (reply.table or reply.code) else MAX_DESCRIPTION)
        if len(text) > limit:
            truncated = True
            text = _cut(text, limit)
        sections.append(text)
        budget -= len(text) + 1

    note_reserve = 80  # room for a "… N not shown" note
    t_lines = table_lines(reply)
    c_lines = code_lines(reply.code) if reply.code else []
    if t_lines:
        share = budget - note_reserve - (min(_block_size(c_lines), budget // 3) if c_lines else 0)
        kept, dropped = fit_lines(t_lines, max(0, share), keep="head")
        blocks = split_blocks(kept) if kept else []
        sections.extend(blocks)
        budget -= sum(len(b) + 1 for b in blocks)
        if dropped:
            truncated = True
            note = f"*… {dropped} more rows not shown here; the whole table is in the attached file.*"
            sections.append(note)
            budget -= len(note) + 1
    if c_lines:
        kept, dropped = fit_lines(c_lines, max(0, budget - note_reserve), keep="tail")
        if dropped:
            truncated = True
            note = f"*… {dropped} earlier lines not shown here; all of them are in the attached file.*"
            sections.append(note)
            budget -= len(note) + 1
        sections.extend(split_blocks(kept) if kept else [])

    embeds = [head]
    current = embeds[0]
    desc = ""
    for section in sections:
        candidate = f"{desc}\n{section}" if desc else section
        if len(candidate) <= MAX_DESCRIPTION:
            desc = candidate
            continue
        current.description = desc or None
        if len(embeds) == MAX_EMBEDS:
            truncated = True
            desc = ""
            current = None
            break
        current = discord.Embed(colour=colour)
        embeds.append(current)
        desc = section
    if current is not None:
        current.description = desc or None
    # Safety net: the budgeting above should already hold; never send an over-limit message.
    while total_chars(embeds) > MAX_TOTAL and len(embeds) > 1:
        embeds.pop()
        truncated = True
    if total_chars(embeds) > MAX_TOTAL and head.description:
        over = total_chars(embeds) - MAX_TOTAL
        head.description = _cut(head.description, max(1, len(head.description) - over))
        truncated = True
    attachment = overflow_attachment(reply) if truncated and (reply.table or reply.code) else None
    return Rendered(embeds=embeds, view=build_view(reply.buttons, ids), truncated=truncated, attachment=attachment)


def total_chars(embeds: list[discord.Embed]) -> int:
    """Characters Discord counts against the 6000 per-message limit."""
    return sum(len(e) for e in embeds)
