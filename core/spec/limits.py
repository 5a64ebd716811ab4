"""Resource limits and the umask a program may be configured with, and how their values are read.

One home for the vocabulary (``nofile``, ``as``, ... are the names util-linux ``prlimit`` and
systemd's ``Limit*=`` use, lower-cased) and for reading a value: the config check calls these
functions to refuse a bad value, the spawn calls the same ones to apply a good one, so they can
never disagree. Pure and standard-library only (``resource`` holds the kernel's constants).
"""

from __future__ import annotations

import re
import resource
from dataclasses import dataclass

from core.spec.sizes import parse_size

INFINITY = resource.RLIM_INFINITY

#: key in ``limits = {...}`` -> the kernel's resource; sizes (bytes) accept "2GiB"
LIMITS: dict[str, int] = {
    "as": resource.RLIMIT_AS,
    "core": resource.RLIMIT_CORE,
    "cpu": resource.RLIMIT_CPU,
    "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE,
    "locks": getattr(resource, "RLIMIT_LOCKS", 10),
    "memlock": resource.RLIMIT_MEMLOCK,
    "msgqueue": resource.RLIMIT_MSGQUEUE,
    "nice": resource.RLIMIT_NICE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "rss": resource.RLIMIT_RSS,
    "rtprio": resource.RLIMIT_RTPRIO,
    "rttime": resource.RLIMIT_RTTIME,
    "sigpending": resource.RLIMIT_SIGPENDING,
    "stack": resource.RLIMIT_STACK,
}
#: limits measured in bytes: their values may be written "512MiB"
SIZE_LIMITS = frozenset({"as", "core", "data", "fsize", "memlock", "msgqueue", "rss", "stack"})
_UNLIMITED = frozenset({"unlimited", "infinity"})
@dataclass(frozen=True)
class Limit:
    """One limit as it is applied: soft and hard in the kernel's units (``INFINITY`` for unlimited)."""

    name: str
    resource: int
    soft: int
    hard: int

    def describe(self) -> str:
        """``nofile 65536`` or ``as 1 GiB / unlimited``: for ``info`` and error messages."""
        soft, hard = (_show(self.name, x) for x in (self.soft, self.hard))
        return f"{self.name} {soft}" if soft == hard else f"{self.name} {soft} / {hard}"


def _show(name: str, v: int) -> str:
    if v == INFINITY:
        return "unlimited"
    if name in SIZE_LIMITS and v >= 1 << 10:
        for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if v % size == 0:
                return f"{v // size} {unit}"
    return str(v)


def _one(name: str, v: object) -> int:
    if isinstance(v, str) and v.strip().lower() in _UNLIMITED:
        return INFINITY
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise ValueError(f"{name}: {v!r} is not a number")
    if isinstance(v, int):
        if v < 0:
            raise ValueError(f"{name}: {v} is negative (write \"unlimited\" for no limit)")
        return v
    if name not in SIZE_LIMITS:
        if v.strip().isdigit():
            return int(v)
        raise ValueError(f"{name}: {v!r} is not a number (only sizes like as, fsize, stack take units)")
    try:
        return parse_size(v)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def parse_limit(name: str, v: object) -> Limit:
    """``65536`` (soft = hard), ``"2GiB"``, ``"unlimited"`` or ``[soft, hard]``; ValueError naming the key."""
    if name not in LIMITS:
        raise ValueError(f"unknown limit {name!r}; known: {', '.join(sorted(LIMITS))}")
    if isinstance(v, list | tuple):
        if len(v) != 2:
            raise ValueError(f"{name}: give one value (soft = hard) or [soft, hard]")
        soft, hard = _one(name, v[0]), _one(name, v[1])
        if hard != INFINITY and (soft == INFINITY or soft > hard):
            raise ValueError(f"{name}: the soft limit is above the hard limit")
    else:
        soft = hard = _one(name, v)
    return Limit(name, LIMITS[name], soft, hard)


def parse_limits(v: dict[str, object]) -> tuple[Limit, ...]:
    return tuple(parse_limit(k, x) for k, x in v.items())


def checked_limits(v: dict[str, object]) -> dict[str, object]:
    parse_limits(v)
    return v


def parse_umask(v: int | str) -> int:
    """``"0027"`` / ``"027"`` (octal text) or an int (TOML's ``0o027``): the mask, 0 .. 0o777."""
    if isinstance(v, bool):
        raise ValueError(f"{v!r} is not a umask")
    if isinstance(v, str):
        if not re.fullmatch(r"0?[0-7]{1,3}", v.strip()):
            raise ValueError(f'{v!r} is not an octal umask like "0027"')
        return int(v.strip(), 8)
    if not 0 <= v <= 0o777:
        raise ValueError(f"{v} is not a umask (0 to 0o777); write it as text, umask = \"0027\"")
    return v


def checked_umask(v: int | str | None) -> int | str | None:
    if v is not None:
        parse_umask(v)
    return v
