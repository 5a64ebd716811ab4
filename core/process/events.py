"""Program lifecycle events, derived from state moves, and the in-process bus that fans them out.

A program's state changes only in :func:`change_state`: it checks the move against
:data:`core.process.states.MOVES`, assigns, and publishes the event :data:`MOVE_EVENTS` names for
the move, so states and events cannot drift apart (supervisord's ``change_state``). The reconciler
also publishes a few facts that are no move of a live runner (a copy that died while procbot was
down, a duplicate or an orphan stopped); they use the same kinds.

The supervisor publishes; the alert policy, the console adapter and the
registry's event log subscribe. Each subscriber owns a bounded queue so a
slow consumer cannot stall the supervisor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from core.errors import IllegalTransition
from core.process.states import ProgramState, State, allowed

log = logging.getLogger(__name__)


class EventKind(StrEnum):
    STARTED = "started"          # a process was spawned or adopted
    RUNNING = "running"          # it survived min_uptime: the start counts as successful
    EXITED = "exited"            # exited as expected (no alert)
    CRASHED = "crashed"          # exited unexpectedly / killed by a signal
    SPAWN_FAILED = "spawn_failed"
    GAVE_UP = "gave_up"          # too many failures in the window: FATAL
    STOPPED = "stopped"          # stopped on request
    WATCH_LOST = "watch_lost"    # a watched program disappeared
    WATCH_FOUND = "watch_found"
    ORPHAN_STOPPED = "orphan_stopped"  # alive at start-up but no longer configured: stopped
    MEMORY_LIMIT = "memory_limit"  # stayed above max_memory: restarted (core/process/memory_limit.py)
    UNHEALTHY = "unhealthy"      # its health check failed `failures` times in a row (one per episode)
    HEALTHY = "healthy"          # unhealthy, and a probe passed again: recovered without a restart


@dataclass(frozen=True)
class ProgramEvent:
    kind: EventKind
    program: str
    at: float                          # wall-clock time
    pid: int | None = None
    exit_code: int | None = None
    signal: str | None = None          # e.g. "SIGKILL"
    runtime: float | None = None       # seconds the run lasted
    failures_in_window: int = 0
    restarts: int = 0                  # restarts in the current give-up window
    next_action: str = ""              # "restart in 4s", "gave up", "policy is never", ...
    next_delay: float | None = None
    message: str = ""                  # human detail: spawn error text, ...
    by: str = ""                       # who caused it (for stops/starts on request)
    oom_kills: int | None = None       # OOM kills the kernel counted in the program's cgroup during the run
    group: str | None = None


_STARTABLE = (State.STOPPED, State.EXITED, State.FATAL, State.SPAWN_ERROR, State.BACKOFF)
_RUN = (State.STARTING, State.RUNNING, State.UNHEALTHY)  # the states a stop may begin in
_ENDS = (*_RUN, State.STOPPING)  # the states a run can end in
#: the event each allowed move publishes (None: none). Its keys are exactly the moves of
#: :data:`core.process.states.MOVES`. A run that ended with an exit the spec expects publishes
#: EXITED where this table says CRASHED (see :func:`event_for`).
MOVE_EVENTS: Mapping[tuple[State, State], EventKind | None] = MappingProxyType({
    # -- managed programs
    **{(old, State.STARTING): EventKind.STARTED for old in _STARTABLE},  # spawned (or adopted, young)
    (State.STOPPED, State.RUNNING): EventKind.STARTED,                   # adopted past min_uptime
    (State.STARTING, State.RUNNING): EventKind.RUNNING,                  # it lasted min_uptime
    (State.RUNNING, State.UNHEALTHY): EventKind.UNHEALTHY,               # its health check failed
    (State.UNHEALTHY, State.RUNNING): EventKind.HEALTHY,                 # a probe passed again
    **{(old, new): EventKind.SPAWN_FAILED for old in _STARTABLE for new in (State.SPAWN_ERROR, State.BACKOFF)},
    **{(old, State.FATAL): EventKind.GAVE_UP for old in (*_STARTABLE, *_ENDS)},
    **{(old, new): EventKind.CRASHED for old in _ENDS for new in (State.BACKOFF, State.EXITED)},
    **{(old, State.STOPPING): None for old in _RUN},                     # STOPPED follows, with the exit
    (State.STOPPING, State.STOPPED): EventKind.STOPPED,
    (State.BACKOFF, State.STOPPED): EventKind.STOPPED,
    # -- watched programs
    (State.MISSING, State.RUNNING): EventKind.WATCH_FOUND,
    (State.RUNNING, State.RUNNING): EventKind.WATCH_FOUND,               # found again, another pid
    (State.RUNNING, State.MISSING): EventKind.WATCH_LOST,
    (State.MISSING, State.MISSING): EventKind.WATCH_LOST,                # gone before it could be watched
})


def event_for(old: State, new: State, clean_exit: bool = False) -> EventKind | None:
    """The event a move publishes; ``clean_exit`` for a run that ended as the spec expects."""
    kind = MOVE_EVENTS[(old, new)]
    return EventKind.EXITED if clean_exit and kind is EventKind.CRASHED else kind


def change_state(st: ProgramState, new: State, bus: EventBus, at: float, *, clean_exit: bool = False,
                 **fields: object) -> ProgramEvent | None:
    """The one place a program's state is assigned: check the move, assign, publish its event.

    ``fields`` are the event's details (pid, exit code, next action, ...). An illegal move is logged
    and raises :class:`IllegalTransition`, leaving the state as it was.
    """
    old = st.state
    if not allowed(st.kind, old, new):
        log.error("illegal state move of %s %s: %s -> %s", st.kind, st.name, old.value, new.value)
        raise IllegalTransition(st.name, old.value, new.value)
    st.state = new
    log.debug("state move of %s %s: %s -> %s", st.kind, st.name, old.value, new.value)
    kind = event_for(old, new, clean_exit)
    if kind is None:
        return None
    event = ProgramEvent(kind, st.name, at, group=st.group, **fields)  # type: ignore[arg-type]
    bus.publish(event)
    return event


class EventBus:
    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[ProgramEvent]] = []

    def subscribe(self, maxsize: int = 10000) -> asyncio.Queue[ProgramEvent]:
        q: asyncio.Queue[ProgramEvent] = asyncio.Queue(maxsize)
        self._queues.append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[ProgramEvent]) -> None:
        if q in self._queues:
            self._queues.remove(q)

    def publish(self, event: ProgramEvent) -> None:
        for q in self._queues:
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("event queue full, dropping %s for %s", event.kind.value, event.program)
