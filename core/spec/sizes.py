"""Sizes in the config ("512MiB", "1GiB", "500MB", 65536): one parser for every key that takes one.

Binary units (KiB, MiB, GiB, TiB) are powers of 1024; decimal ones (kB, MB, GB, TB) powers of
1000, as their names say; a bare K, M, G or T is binary, as in ``memory.max``, systemd and PM2's
``max_memory_restart = "200M"``. Case does not matter and a space may separate the number from
the unit; a fraction is allowed with a unit ("1.5GiB"). A plain integer is a count of bytes.
Used by ``max_memory`` and ready for any other size (limits, log sizes).
"""

from __future__ import annotations

import re

_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "kib": 1 << 10, "kb": 1000,
    "m": 1 << 20, "mib": 1 << 20, "mb": 1000**2,
    "g": 1 << 30, "gib": 1 << 30, "gb": 1000**3,
    "t": 1 << 40, "tib": 1 << 40, "tb": 1000**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_size(v: object) -> int:
    """Bytes from an int or a size text; ValueError with a message a config author can act on."""
    if isinstance(v, bool):
        raise ValueError("must be a size like \"512MiB\" or a number of bytes, not true/false")
    if isinstance(v, int):
        if v < 0:
            raise ValueError("a size cannot be negative")
        return v
    if not isinstance(v, str):
        raise ValueError('must be a size like "512MiB", "1GiB", "500MB" or a number of bytes')
    m = _SIZE.match(v.lower())
    if m is None or m.group(2) not in _UNITS:
        raise ValueError(f'{v!r} is not a size: write it like "512MiB", "1GiB", "500MB" or a number of bytes')
    number, unit = m.group(1), m.group(2)
    if "." in number and not unit:
        raise ValueError(f"{v!r}: a number of bytes is a whole number")
    return int(float(number) * _UNITS[unit]) if "." in number else int(number) * _UNITS[unit]


def size_or_none(v: object) -> object:
    """A ``before`` rule for an optional size: None stays None."""
    return None if v is None else parse_size(v)


def memory_size(v: int | None) -> int | None:
    """A ``check`` rule for a memory limit: at least 1 MiB (a bare 512 is bytes, surely a missing unit)."""
    if v is not None and v < 1 << 20:
        raise ValueError(f'{v} bytes is below 1 MiB: no program runs in that (write a unit: "512MiB")')
    return v


def show_size(n: int) -> str:
    """A size as the config would say it, exact when it can be: 536870912 -> "512 MiB"."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            q = n / factor
            return f"{q:.0f} {unit}" if n % factor == 0 or q >= 100 else f"{q:.1f} {unit}"
    return f"{n} B"
