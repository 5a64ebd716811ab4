"""Program lifecycle events and the in-process bus that fans them out.

The supervisor publishes; the alert policy, the console adapter and the
registry's event log subscribe. Each subscriber owns a bounded queue so a
slow consumer cannot stall the supervisor.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from enum import StrEnum

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
    group: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


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
