"""Renders a reply as plain text: for the terminal (console adapter), and as a file when a chat cuts it.

The text itself comes from the reply's plain-dict form (:mod:`adapters.plain_text`,
which the CLI imports alone so that it starts fast).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.plain_text import render_dict, table_text

if TYPE_CHECKING:
    from core.reply import Reply


def render(reply: Reply) -> str:
    return render_dict(reply.to_dict())


@dataclass(frozen=True)
class Attachment:
    """A reply's whole table or log as a text file, for when a chat message can show only part of it."""

    filename: str
    title: str
    content: str


def overflow_attachment(reply: Reply) -> Attachment:
    """The reply's table and code in full, as plain text (already masked: it is the reply's own text)."""
    parts = []
    if reply.table is not None:
        parts.append(table_text(reply.table.columns, reply.table.rows))
    if reply.code:
        parts.append(reply.code)
    slug = re.sub(r"[^a-z0-9]+", "-", reply.title.lower()).strip("-")[:60] or "output"
    return Attachment(filename=f"{slug}.txt", title=reply.title, content="\n\n".join(parts) + "\n")
