"""Renders a reply's plain-dict form as text for the terminal (the CLI, and the console through text_render).

It imports nothing but ``core.formatting``'s stamp helpers (the regular
expression only), so ``procbot status`` pays no import it does not need:
no dataclasses, no typing, no datetime.
"""

from __future__ import annotations

from core.formatting import plain_stamps

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

_MARK = {"ok": "", "info": "", "warn": "! ", "error": "error: "}


def table_text(columns: list[str], rows: list[list[str]]) -> str:
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(columns)).rstrip()]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def render_dict(reply: dict[str, Any]) -> str:
    tone = reply.get("tone", "info")
    title, text = plain_stamps(reply.get("title", "")), plain_stamps(reply.get("text", ""))
    if tone == "error" and title == "Error":
        return f"error: {text}"
    out: list[str] = [_MARK.get(tone, "") + title]
    if text:
        out.append(text)
    fields = reply.get("fields") or []
    if fields:
        width = max(len(f["name"]) for f in fields)
        out.extend(f"  {f['name'].ljust(width)}  {plain_stamps(f['value'])}" for f in fields)
    table = reply.get("table")
    if table is not None:
        out.append(table_text(table["columns"], table["rows"]) if table["rows"] else "  (none)")
    if reply.get("code"):
        out.append(reply["code"])
    buttons = reply.get("buttons") or []
    if buttons:
        out.append("  [" + "] [".join(b["label"] for b in buttons) + "]")
    return "\n".join(out)
