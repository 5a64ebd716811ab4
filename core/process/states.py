"""The in-memory state of each program: procbot's cache.

Exit events and scans keep it current; status replies read it without
touching the OS.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"        # spawned, not yet up for min_uptime
    RUNNING = "running"
    BACKOFF = "backoff"          # waiting to restart after a crash
    STOPPING = "stopping"
    EXITED = "exited"            # exited and policy says stay down
    FATAL = "fatal"              # gave up after too many failures
    SPAWN_ERROR = "spawn-error"  # the OS refused to start it
    MISSING = "missing"          # watched program not found

    @property
    def is_up(self) -> bool:
        return self in (State.STARTING, State.RUNNING, State.STOPPING)


@dataclass
class ProgramState:
    name: str
    kind: str                          # managed | watched
    group: str | None = None
    state: State = State.STOPPED
    pid: int | None = None
    start_ticks: int | None = None
    started_at: float | None = None    # wall clock
    started_mono: float | None = None
    run_id: int | None = None
    adopted: bool = False
    exit_code: int | None = None
    signal: str | None = None
    last_exit_at: float | None = None
    last_runtime: float | None = None
    next_start_at: float | None = None  # wall clock, when in BACKOFF
    message: str = ""
    quick_failures: int = 0             # consecutive runs shorter than min_uptime
    failures: deque[float] = field(default_factory=deque)  # monotonic times of crashes in the window
    restarts: int = 0                   # automatic restarts since the last manual start
    cpu_percent: float = 0.0
    rss_bytes: int = 0
    tree_pids: list[int] = field(default_factory=list)

    def uptime(self, now: float) -> float | None:
        if self.state.is_up and self.started_at is not None:
            return max(0.0, now - self.started_at)
        return None

    def snapshot(self, now: float) -> dict[str, object]:
        """A plain dict for JSON replies and the CLI."""
        return {
            "name": self.name,
            "kind": self.kind,
            "group": self.group,
            "state": self.state.value,
            "pid": self.pid if self.state.is_up else None,
            "uptime": self.uptime(now),
            "started_at": self.started_at,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "restarts": self.restarts,
            "next_start_at": self.next_start_at,
            "message": self.message,
            "cpu_percent": round(self.cpu_percent, 1),
            "rss_bytes": self.rss_bytes,
            "adopted": self.adopted,
        }
