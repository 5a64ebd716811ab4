"""Shared pieces of the config models: how a field declares its rules, and the name checks.

The models are plain frozen dataclasses so the daemon never loads pydantic (about 20 MiB
and 0.3 s of start-up). Each field states its rules once, in its metadata (:func:`setting`);
``core.spec.validation`` turns those rules into a pydantic schema when a file is checked.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: words the command grammar reads as a target of their own: a program so named could never be addressed
RESERVED_NAMES = frozenset({"all"})
SIGNALS = {s.name for s in signal.Signals}

#: a config model: frozen (shared by every task without copying) and keyword-only, like the TOML tables
spec_model = dataclasses.dataclass(frozen=True, kw_only=True)

#: the rules a field may carry (pydantic's Field constraints of the same names), plus checks
RULES = ("ge", "gt", "le", "lt", "pattern", "min_length", "description", "check", "before")


def setting(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None,
            ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None,
            pattern: str | None = None, min_length: int | None = None, description: str | None = None,
            check: Callable[[Any], Any] | None = None, before: Callable[[Any], Any] | None = None) -> Any:
    """A field with its rules: ``check`` runs on the parsed value, ``before`` on the raw one; both raise ValueError."""
    rules = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt), ("pattern", pattern),
                               ("min_length", min_length), ("description", description), ("check", check),
                               ("before", before)) if v is not None}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=rules)
    return dataclasses.field(default=default, metadata=rules)


def holds_nul(v: object) -> bool:
    """No text in the config may hold NUL: the OS refuses it in paths, argv and the environment."""
    if isinstance(v, str):
        return "\x00" in v
    if isinstance(v, list | tuple):
        return any(holds_nul(x) for x in v)
    if isinstance(v, dict):
        return any(holds_nul(k) or holds_nul(x) for k, x in v.items())
    return False


def checked_path(v: str | None) -> str | None:
    """A path procbot can resolve: ``~user`` must name a user (Path.expanduser raises otherwise)."""
    if v is None:
        return v
    if not v.strip():
        raise ValueError("is empty")
    try:
        Path(v).expanduser()
    except RuntimeError:
        raise ValueError(f"{v!r}: no such user ({v.split('/', 1)[0]})") from None
    return v


def checked_program_name(v: str) -> str:
    if v in RESERVED_NAMES:
        raise ValueError(f"{v!r} is reserved: the command grammar reads it as a target "
                         f"({', '.join(sorted(RESERVED_NAMES))}), so the program could not be addressed")
    return v


def checked_signal_name(v: str) -> str:
    name = v.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name not in SIGNALS:
        raise ValueError(f"unknown signal {v!r}")
    return name
