"""Shared pieces of the config models: the strict base (unknown keys are errors) and name checks."""

from __future__ import annotations

import signal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: words the command grammar reads as a target of their own: a program so named could never be addressed
RESERVED_NAMES = frozenset({"all"})
SIGNALS = {s.name for s in signal.Signals}


def _holds_nul(v: object) -> bool:
    if isinstance(v, str):
        return "\x00" in v
    if isinstance(v, list | tuple):
        return any(_holds_nul(x) for x in v)
    if isinstance(v, dict):
        return any(_holds_nul(k) or _holds_nul(x) for k, x in v.items())
    return False


class Strict(BaseModel):
    # inf and nan are refused everywhere: `grace = inf` or `scan_interval = nan` would break timers at run time
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, v: object) -> object:
        """No text in the config may hold NUL: the OS refuses it in paths, argv and the environment."""
        if _holds_nul(v):
            raise ValueError("may not contain NUL bytes")
        return v


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
