"""Renders a reply as plain text: for the terminal (console adapter), and as a file when a chat cuts it.

The text itself comes from the reply's plain-dict form (:mod:`adapters.plain_text`,
which the CLI imports alone so that it starts fast).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from adapters.plain_text import render_dict, table_text
from core.process.states import State

if TYPE_CHECKING:
    from core.reply import Reply


#: the emoji that leads a table row, per program state, on every chat platform (Unicode, not Slack
#: :shortcodes:, because shortcodes are not rendered inside code blocks). The colour follows the
#: state's tone (core.reply.STATE_TONE): green up, yellow on the way up or down, orange failing while
#: procbot is on it (backoff: the restart policy; unhealthy: the health check), red when a person must
#: act, white stopped or left down.
STATE_EMOJI: Mapping[State, str] = MappingProxyType({
    State.RUNNING: "\U0001f7e2",      # large green circle
    State.STARTING: "\U0001f7e1",     # large yellow circle
    State.STOPPING: "\U0001f7e1",
    State.BACKOFF: "\U0001f7e0",      # large orange circle
    State.UNHEALTHY: "\U0001f7e0",
    State.FATAL: "\U0001f534",        # large red circle
    State.SPAWN_ERROR: "\U0001f534",
    State.MISSING: "\U0001f534",
    State.STOPPED: "\u26aa",          # white circle
    State.EXITED: "\u26aa",
})
UNKNOWN_STATE_EMOJI = "\u2754"        # white question mark
#: rows that are no program's state: a grouped alert's failing incident reads as a broken program
ROW_ALIASES: Mapping[str, State] = MappingProxyType({"crashed": State.FATAL})


def row_state(state: str) -> State | None:
    """The program state a table row's state text names (any case), or None if it names none."""
    s = state.lower()
    if s in ROW_ALIASES:
        return ROW_ALIASES[s]
    try:
        return State(s)
    except ValueError:
        return None


def state_emoji(state: str) -> str:
    st = row_state(state)
    return UNKNOWN_STATE_EMOJI if st is None else STATE_EMOJI[st]


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
