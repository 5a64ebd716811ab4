"""The intake stage: a failure event becomes an incident, written before any message is queued.

One incident per crash episode of a program: the first failure opens one
(its route chosen now); further failures while it is open, or within
``flap_window`` of its last failure after it recovered, extend (or reopen)
the same one, so a flapping program is one message. The last log lines
(masked) and the OOM report (exact per cgroup, or the guess) are copied onto it here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from core.alerts.book import IncidentBook
from core.alerts.incident_state import reopen
from core.alerts.incidents import Incident, IncidentStore
from core.alerts.routes import Router
from core.process.events import ProgramEvent
from core.process.logs import log_path, tail
from core.process.oom import OomWatch
from core.process.supervisor import Supervisor
from core.redact import mask_lines
from core.spec import AlertSettings

MAX_LOG_LINE = 400


@dataclass(frozen=True)
class Intaken:
    incident: Incident
    opened: bool          # a new incident (else an open or recent one extended)
    reopened: bool = False


class Intake:
    def __init__(self, *, book: IncidentBook, store: IncidentStore, supervisor: Supervisor,
                 settings: Callable[[], AlertSettings], oom: OomWatch | None = None) -> None:
        self.book = book
        self.store = store
        self.sup = supervisor
        self.settings = settings
        self.oom = oom
        self._router: tuple[object, Router] | None = None

    def router(self) -> Router:
        routes = self.settings().route
        if self._router is None or self._router[0] is not routes:  # reloaded
            self._router = (routes, Router(routes))
        return self._router[1]

    async def failure(self, ev: ProgramEvent) -> Intaken:
        s = self.settings()
        lines, oom = await self._gather(ev, s.log_lines)
        inc = await self.book.latest(ev.program)
        if inc is not None and (inc.open or 0 <= ev.at - inc.last_failure_at <= s.flap_window):
            reopened = not inc.open
            if reopened:
                reopen(inc)
            inc.crashes += 1
            _apply(inc, ev, lines, oom)
            await self.store.save(inc)
            return Intaken(inc, opened=False, reopened=reopened)
        inc = Incident(
            program=ev.program, opened_at=ev.at, updated_at=ev.at, group=ev.group,
            kind="managed" if ev.program in self.sup.runners or ev.program not in self.sup.watched else "watched",
            destinations=list(self.router().destinations(ev.program, ev.group)),
        )
        _apply(inc, ev, lines, oom)
        inc = await self.store.create(inc)
        self.book.remember(inc)
        return Intaken(inc, opened=True)

    async def _gather(self, ev: ProgramEvent, n: int) -> tuple[list[str], Oom]:
        """Last log lines (masked) and the OOM report, read in a worker thread."""
        path = log_path(self.sup.config.log_dir, ev.program) if n and ev.program in self.sup.runners else None
        watch = self.oom
        if path is not None:
            await self.sup.logs.flush(ev.program)  # the lines written just before the exit are in the file

        def work() -> tuple[list[str], Oom]:
            lines = tail(path, n) if path is not None else []
            if ev.oom_kills is not None:  # counted in the program's own cgroup: no guessing
                if watch is not None:
                    watch.killed_since_last()  # the host-wide counters moved with it: not news for the next guess
                return lines, Oom(kills=ev.oom_kills)
            return lines, Oom(guess=bool(watch and ev.signal == "SIGKILL" and watch.killed_since_last()))

        lines, oom = await asyncio.to_thread(work)
        return mask_lines([line[:MAX_LOG_LINE] for line in lines]), oom


@dataclass(frozen=True)
class Oom:
    """Was a crash the OOM killer's? ``kills``: counted exactly in the program's cgroup; ``guess``: elsewhere."""

    kills: int = 0
    guess: bool = False


def _apply(inc: Incident, ev: ProgramEvent, lines: list[str], oom: Oom) -> None:
    """Copy the latest failure's details onto the incident."""
    inc.updated_at = inc.last_failure_at = ev.at
    inc.cause = ev.kind.value
    inc.exit_code, inc.signal, inc.oom, inc.oom_kills = ev.exit_code, ev.signal, oom.guess, oom.kills
    inc.runtime, inc.pid = ev.runtime, ev.pid
    inc.restarts, inc.failures_in_window = ev.restarts, ev.failures_in_window
    inc.next_action, inc.message = ev.next_action, ev.message
    inc.log_lines = lines
