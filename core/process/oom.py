"""Was that SIGKILL the kernel's OOM killer? A cheap, honest guess, where nothing counts exactly.

Exact, first (cgroup mode with the memory controller on, see ``max_memory``): each program's
cgroup counts the OOM kills inside it (``memory.events``); the runner reads the count when a run
ends and puts it on the event (``ProgramEvent.oom_kills``), so the alert says "out of memory"
without a question mark, whichever process of the program the kernel chose, and nothing about
memory for a SIGKILL the count did not see. This module is the fallback for everything else:

A process procbot did not stop that dies of SIGKILL was killed by someone
else; the usual someone is the OOM killer. The kernel counts its kills in the
cgroup's ``memory.events`` (``oom_kill``, cgroup v2; children inherit
procbot's cgroup) and system-wide in ``/proc/vmstat`` (Linux >= 4.13). If
either counter moved since the last look, the alert says "out of memory?".
A kill of an unrelated process in the same window can cause a false
positive, hence the question mark.
"""

from __future__ import annotations

from pathlib import Path


def _cgroup_events() -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return Path("/sys/fs/cgroup") / line[3:].lstrip("/") / "memory.events"
    except OSError:
        return None
    return None


def default_counters() -> list[Path]:
    paths = [Path("/proc/vmstat")]
    events = _cgroup_events()
    if events is not None:
        paths.insert(0, events)
    return paths


def read_oom_kills(path: Path) -> int | None:
    """The ``oom_kill`` counter of a ``memory.events``/``vmstat`` style file, or None if unreadable."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


class OomWatch:
    """Remembers the OOM-kill counters; :meth:`killed_since_last` reports whether they moved.

    Reads a few bytes from /proc and /sys: called from a worker thread along
    with the log tail of the crashed program.
    """

    def __init__(self, counters: list[Path] | None = None) -> None:
        self.counters = default_counters() if counters is None else counters
        self._last = {p: read_oom_kills(p) for p in self.counters}

    def killed_since_last(self) -> bool:
        moved = False
        for p in self.counters:
            now = read_oom_kills(p)
            before = self._last.get(p)
            if now is not None and before is not None and now > before:
                moved = True
            self._last[p] = now
        return moved
