"""Platform-neutral replies.

The dispatcher returns a :class:`Reply`; each adapter renders it natively
(Slack blocks, Discord embeds, plain text). This module imports nothing
heavy because the CLI client renders replies too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from core.process.states import BROKEN_STATES, FAILED_STATES, STARTED_STATES, State


class Tone(StrEnum):
    """Colour of a reply: adapters map it to embed colours or emoji."""

    INFO = "info"
    OK = "ok"
    WARN = "warn"
    ERROR = "error"


def _tone_of(state: State) -> Tone:
    if state in BROKEN_STATES:
        return Tone.ERROR  # a person must act: missing is an error too (procbot cannot bring it back)
    if state in FAILED_STATES:
        return Tone.WARN   # backoff: failing, and the restart policy is on it
    return Tone.OK if state in STARTED_STATES else Tone.INFO


#: how each program state reads: the tone of a reply about one program, the colour a failing row gives
STATE_TONE: Mapping[State, Tone] = MappingProxyType({s: _tone_of(s) for s in State})


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]
    #: per row, the program state (running, backoff, ...) so renderers can add emoji/colour
    states: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Button:
    label: str
    #: opaque value handed back to Dispatcher.press(); never shown to users
    value: str
    style: str = "default"  # default | primary | danger


@dataclass
class Reply:
    title: str
    text: str = ""
    tone: Tone = Tone.INFO
    fields: list[Field] = field(default_factory=list)
    table: Table | None = None
    code: str | None = None
    buttons: list[Button] = field(default_factory=list)
    #: only the asker should see it (errors, refusals, confirmations)
    ephemeral: bool = True
    #: machine-readable payload for --json and tests
    data: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    error_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, built by hand: ``asdict`` deep-copies ``data`` and is the slow part."""
        t = self.table
        return {
            "title": self.title,
            "text": self.text,
            "tone": self.tone.value,
            "fields": [{"name": f.name, "value": f.value, "inline": f.inline} for f in self.fields],
            "table": {"columns": t.columns, "rows": t.rows, "states": t.states} if t else None,
            "code": self.code,
            "buttons": [{"label": b.label, "value": b.value, "style": b.style} for b in self.buttons],
            "ephemeral": self.ephemeral,
            "data": self.data,
            "ok": self.ok,
            "error_code": self.error_code,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reply:
        table = d.get("table")
        return cls(
            title=d["title"],
            text=d.get("text", ""),
            tone=Tone(d.get("tone", "info")),
            fields=[Field(**f) for f in d.get("fields", [])],
            table=Table(**table) if table else None,
            code=d.get("code"),
            buttons=[Button(**b) for b in d.get("buttons", [])],
            ephemeral=d.get("ephemeral", True),
            data=d.get("data", {}),
            ok=d.get("ok", True),
            error_code=d.get("error_code"),
        )

    @classmethod
    def internal_error(cls) -> Reply:
        """What a chat user sees when procbot itself failed (the details go to procbot's log)."""
        return cls(
            title="Internal error",
            text="procbot could not complete this command; the procbot log has the details.",
            tone=Tone.ERROR,
            ok=False,
            error_code="internal",
        )

    @classmethod
    def error(cls, err: Exception, *, code: str = "error") -> Reply:
        return cls(
            title="Error",
            text=str(err),
            tone=Tone.ERROR,
            ok=False,
            error_code=getattr(err, "code", code),
            ephemeral=True,
        )
