"""Renders a Reply as plain text for the terminal (console adapter and CLI).

Imports only core.reply so the CLI client stays quick to start.
"""

from __future__ import annotations

from core.reply import Reply, Tone

_MARK = {Tone.OK: "", Tone.INFO: "", Tone.WARN: "! ", Tone.ERROR: "error: "}
_STATE_MARK = {
    "running": "●", "starting": "◐", "backoff": "◐", "stopping": "◐",
    "stopped": "○", "exited": "○", "fatal": "✗", "spawn-error": "✗", "missing": "✗",
}


def table_text(columns: list[str], rows: list[list[str]]) -> str:
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(columns)).rstrip()]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def render(reply: Reply, *, color: bool = False) -> str:
    out: list[str] = []
    title = reply.title
    if reply.tone is Tone.ERROR and title == "Error":
        return f"error: {reply.text}"
    out.append(_MARK[reply.tone] + title)
    if reply.text:
        out.append(reply.text)
    if reply.fields:
        width = max(len(f.name) for f in reply.fields)
        out.extend(f"  {f.name.ljust(width)}  {f.value}" for f in reply.fields)
    if reply.table is not None:
        rows = reply.table.rows
        if not rows:
            out.append("  (none)")
        else:
            out.append(table_text(reply.table.columns, rows))
    if reply.code:
        out.append(reply.code)
    if reply.buttons:
        out.append("  [" + "] [".join(b.label for b in reply.buttons) + "]")
    return "\n".join(out)


def status_line_mark(state: str) -> str:
    return _STATE_MARK.get(state, "?")
