"""Program states, named once, with the sets the code tests against and the moves allowed between them.

Like supervisord's ``states.py``: every question "is this state up / a failure / down" is answered by
one set here, never by a list of strings elsewhere, and a state changes only through
:func:`core.process.events.change_state`, which refuses a move this table does not allow.

:class:`ProgramState` is the in-memory state of each program, procbot's cache: exit events and scans
keep it current; status replies read it without touching the OS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class State(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"        # spawned, not yet up for min_uptime
    RUNNING = "running"
    UNHEALTHY = "unhealthy"      # running, but its health check failed `failures` times in a row
    BACKOFF = "backoff"          # waiting to restart after a crash
    STOPPING = "stopping"
    EXITED = "exited"            # exited and policy says stay down
    FATAL = "fatal"              # gave up after too many failures
    SPAWN_ERROR = "spawn-error"  # the OS refused to start it
    MISSING = "missing"          # watched program not found

    @property
    def is_up(self) -> bool:
        return self in UP_STATES


# -- the sets the code tests against: each question about states is answered here, once --------
#: a process of the program is alive (it has a pid worth showing, CPU and memory); unhealthy too: alive is
#: not the same as well (see ProgramState.ready)
UP_STATES: frozenset[State] = frozenset({State.STARTING, State.RUNNING, State.UNHEALTHY, State.STOPPING})
#: a start is refused with "already running"
STARTED_STATES: frozenset[State] = frozenset({State.STARTING, State.RUNNING, State.UNHEALTHY})
#: running or about to run again: `stop` applies, and a reload restarts it with the new spec
ACTIVE_STATES: frozenset[State] = UP_STATES | {State.BACKOFF}
#: failed, and stays so until a person acts (procbot will not bring it back by itself): tone "error"
BROKEN_STATES: frozenset[State] = frozenset({State.FATAL, State.SPAWN_ERROR, State.MISSING})
#: is a failure: broken, crashed and waiting for the restart policy, or up but failing its health check.
#: `status` warns when any is shown
FAILED_STATES: frozenset[State] = BROKEN_STATES | {State.BACKOFF, State.UNHEALTHY}
#: not running and not stopped on request: failed with no process (unhealthy is failed but up), or exited
#: and left down by the policy (the digest's "down")
DOWN_STATES: frozenset[State] = (FAILED_STATES - UP_STATES) | {State.EXITED}

# -- the moves a program may make; anything else is a bug and raises IllegalTransition ------------
#: the start moves: spawned (by hand or by the restart policy), or refused by the OS (by hand: spawn-error;
#: automatic: backoff, or fatal once the give-up rule is reached)
_START = frozenset({State.STARTING, State.SPAWN_ERROR, State.BACKOFF, State.FATAL})
#: a managed program (core.process.runner): old state -> the states it may move to
MANAGED_MOVES: Mapping[State, frozenset[State]] = MappingProxyType({
    State.STOPPED: _START | {State.RUNNING},       # and adopted at start-up: starting, or running past min_uptime
    State.EXITED: _START,
    State.FATAL: _START,
    State.SPAWN_ERROR: _START,
    State.BACKOFF: _START | {State.STOPPED},       # BACKOFF -> STOPPED: stopped while waiting to restart
    # STARTING -> RUNNING: it lasted min_uptime. An exit: restart (backoff), stay down (exited), give up (fatal)
    State.STARTING: frozenset({State.RUNNING, State.BACKOFF, State.EXITED, State.FATAL, State.STOPPING}),
    # RUNNING -> UNHEALTHY: its health check failed `failures` times in a row (core.health)
    State.RUNNING: frozenset({State.UNHEALTHY, State.BACKOFF, State.EXITED, State.FATAL, State.STOPPING}),
    # UNHEALTHY -> RUNNING: a probe passed again (on_unhealthy = "alert"); -> STOPPING: stopped, or the
    # health restart (on_unhealthy = "restart"); an exit is decided like any exit
    State.UNHEALTHY: frozenset({State.RUNNING, State.STOPPING, State.BACKOFF, State.EXITED, State.FATAL}),
    # STOPPING -> STOPPED: the stop ended. The others: the exit of a stop that was cancelled half-way,
    # decided like any exit
    State.STOPPING: frozenset({State.STOPPED, State.BACKOFF, State.EXITED, State.FATAL}),
})
#: a watched program (core.process.watched): found, lost, or found again with another pid. MISSING -> MISSING
#: is a process found that was gone before it could be watched
WATCHED_MOVES: Mapping[State, frozenset[State]] = MappingProxyType({
    State.MISSING: frozenset({State.RUNNING, State.MISSING}),
    State.RUNNING: frozenset({State.RUNNING, State.MISSING}),
})
MOVES: Mapping[str, Mapping[State, frozenset[State]]] = MappingProxyType(
    {"managed": MANAGED_MOVES, "watched": WATCHED_MOVES})


def allowed(kind: str, old: State, new: State) -> bool:
    """May a program of this kind ("managed" or "watched") move from ``old`` to ``new``?"""
    return new in MOVES[kind].get(old, frozenset())


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
    failures: tuple[float, ...] = ()    # monotonic times of crashes in the give-up window
    restarts: int = 0                   # automatic restarts since the last manual start
    cpu_percent: float = 0.0
    rss_bytes: int = 0
    tree_pids: list[int] = field(default_factory=list)
    #: the program has a health check (core.health); without one, running is ready
    health_checked: bool = False
    #: the health check's verdict on the current run: None before its first one (or with no check),
    #: True healthy, False unhealthy. Reset to None when the run ends
    healthy: bool | None = None
    health_detail: str = ""             # the last probe, in words: "GET /healthz returned 200"

    @property
    def ready(self) -> bool:
        """Ready for what needs it (a dependent's start): running, and healthy if it has a health check.

        The one definition of readiness; :meth:`core.process.runner.ProgramRunner.wait_ready` awaits it.
        """
        return self.state is State.RUNNING and (not self.health_checked or self.healthy is True)

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
            "healthy": self.healthy,
            "ready": self.ready,
        }
