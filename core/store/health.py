"""How the registry is doing, and which SQLite failures are the disk's fault rather than the query's.

Why a separate module: the dispatcher (``status``), the alert that says
"history is not being recorded" and the registry itself all read the same
value, and the classification of errors is one decision with one home.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

#: failures of the file or the disk (not of the statement): the registry degrades instead of raising
FAULT_CODES = frozenset({
    sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB,
    sqlite3.SQLITE_PERM, sqlite3.SQLITE_PROTOCOL,
})
#: the file itself is damaged: it is set aside and re-created rather than retried
DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})

SQLITE_HEADER = b"SQLite format 3\x00"


def _code(e: sqlite3.Error) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_fault(e: sqlite3.Error) -> bool:
    code = _code(e)
    if code is not None:
        return code in FAULT_CODES
    text = str(e).lower()  # errors raised before a statement ran carry no code
    return any(w in text for w in ("disk", "full", "readonly", "locked", "malformed", "not a database",
                                   "unable to open", "i/o error"))


def is_damage(e: sqlite3.Error) -> bool:
    code = _code(e)
    if code is not None:
        return code in DAMAGE_CODES
    text = str(e).lower()
    return "malformed" in text or "not a database" in text


def describe(e: sqlite3.Error) -> str:
    """A short reason an operator can act on ("database or disk is full", "attempt to write a readonly ...")."""
    return str(e) or type(e).__name__


def hhmm(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


@dataclass(frozen=True)
class RegistryHealth:
    """``ok`` or degraded (``reason``, ``since``); while degraded procbot runs from memory.

    ``pending``: history rows (events, samples) waiting to be written;
    ``dropped``: history rows given up past the buffer's bound since procbot
    started. ``recreated`` says when and why the file was last re-created.
    """

    ok: bool = True
    reason: str = ""
    since: float | None = None
    pending: int = 0
    dropped: int = 0
    recreated: str = ""

    def notes(self) -> list[str]:
        out = []
        if not self.ok and self.since is not None:
            line = f"history is not being recorded since {hhmm(self.since)}: {self.reason}"
            extra = []
            if self.pending:
                extra.append(f"{self.pending} rows waiting")
            if self.dropped:
                extra.append(f"{self.dropped} dropped")
            out.append(line + (f" ({', '.join(extra)})" if extra else ""))
        elif self.dropped:
            out.append(f"{self.dropped} history rows were dropped while the registry could not be written")
        if self.recreated:
            out.append(self.recreated)
        return out
