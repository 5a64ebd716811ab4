"""Direct reads of /proc: the cheapest way to ask about a known pid.

A process is identified by (pid, start ticks): pids are reused, start
ticks (field 22 of /proc/<pid>/stat, clock ticks since boot) are not for
the same pid. Reading one small file per tracked pid keeps a scan's cost
proportional to the programs procbot tracks, not to the host's process table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Stat:
    pid: int
    state: str       # R S D Z T ...
    ppid: int
    pgid: int
    sid: int
    cpu_ticks: int   # utime + stime
    start_ticks: int
    rss_bytes: int


def read_stat(pid: int) -> Stat | None:
    """One process's stat, or None if it is gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    try:
        data = os.read(fd, 4096)  # raw fd: a third of the cost of open() on the hot path
    except ProcessLookupError:
        return None
    finally:
        os.close(fd)
    if not data:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    rest = data[data.rindex(b")") + 2 :].split()
    return Stat(
        pid=pid,
        state=rest[0].decode(),
        ppid=int(rest[1]),
        pgid=int(rest[2]),
        sid=int(rest[3]),
        cpu_ticks=int(rest[11]) + int(rest[12]),
        start_ticks=int(rest[19]),
        rss_bytes=int(rest[21]) * PAGE_SIZE,
    )


def start_ticks(pid: int) -> int | None:
    st = read_stat(pid)
    return st.start_ticks if st else None


def is_alive(pid: int, ticks: int) -> bool:
    """True when ``pid`` still names the same process (and it is not a zombie)."""
    st = read_stat(pid)
    return st is not None and st.start_ticks == ticks and st.state != "Z"


def cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def all_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def session_members(sids: set[int]) -> dict[int, list[int]]:
    """Every live pid in each of the given sessions, found in one walk of /proc.

    This walk costs one read per host process, so the scanner runs it only
    every few ticks to discover children; per-tick reads touch known pids only.
    """
    out: dict[int, list[int]] = {s: [] for s in sids}
    if not sids:
        return out
    for pid in all_pids():
        st = read_stat(pid)
        if st is not None and st.sid in out and st.state != "Z":
            out[st.sid].append(pid)
    return out


def boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError("btime missing from /proc/stat")


def ticks_to_epoch(ticks: int, btime: float) -> float:
    return btime + ticks / CLK_TCK
