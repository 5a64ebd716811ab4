"""Turns lifecycle events into incidents and incidents into outbox entries.

A pipeline of small stages, like Alertmanager's notify pipeline; each is one
module with one job:

    intake  (intake.py)   a failure event opens, extends or reopens the program's incident
    state   (incident_state.py)  what chat has been told about it: one IncidentState, pure
    mute    (mute.py)     the only silence check: a new message is posted or held back
    group   (groups.py)   the storm rule: post alone, hold briefly, or fold into a group alert
    notify  (notify.py)   fan the message out to the route's destinations through the outbox

What it does, end to end:

* the first failure opens an incident and queues **one** alert per destination;
* further failures while it is open, or within ``flap_window`` after it
  recovered, edit that alert in place: a flapping program is one message;
* when the program has stayed up for its minimum uptime (``RUNNING``, or a
  watched program found again), or an unhealthy one passes its health check
  again (``HEALTHY``), the alert is edited to "recovered" and a recovery goes
  in its thread;
* an incident still open after ``repeat_interval`` is re-announced;
* many programs failing together on one route become one grouped alert;
* a silenced program's incident is recorded but nothing new is posted; when
  the silence ends and the incident is still open, it is posted once. Edits
  go on during a silence (an edit notifies nobody), so chat never shows a
  stale state.

Idempotency: an incident row is written before any message is queued, and
every queued message carries a dedup key built from the incident id, so
replaying the same step after a restart cannot queue a second alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from core.alerts.book import IncidentBook
from core.alerts.groups import GroupStage
from core.alerts.incident_state import IncidentState, Say, due, move, resolve, state_of
from core.alerts.incidents import FAILURE_KINDS, AlertGroup, Incident, IncidentStore
from core.alerts.intake import Intake
from core.alerts.mute import Mute
from core.alerts.notify import Notify
from core.alerts.outbox import Outbox
from core.alerts.silences import Silences
from core.clock import Clock
from core.errors import ProcbotError
from core.process.events import EventBus, EventKind, ProgramEvent
from core.process.oom import OomWatch
from core.process.states import State
from core.process.supervisor import Supervisor
from core.spec import AlertSettings

log = logging.getLogger(__name__)

MAX_RETRY_EVENTS = 1000


class AlertPolicy:
    def __init__(
        self,
        *,
        bus: EventBus,
        outbox: Outbox,
        store: IncidentStore,
        silences: Silences,
        supervisor: Supervisor,
        settings: Callable[[], AlertSettings],
        clock: Clock,
        host: str,
        oom: OomWatch | None = None,
        tick_interval: float = 1.0,
    ) -> None:
        self.bus = bus
        self.store = store
        self.sup = supervisor
        self.settings = settings
        self.clock = clock
        self.tick_interval = tick_interval
        # subscribe now, not in start(): nothing published between assembly and start is missed
        self._queue = bus.subscribe()
        self._lock = asyncio.Lock()
        self.book = IncidentBook(store)
        self.intake = Intake(book=self.book, store=store, supervisor=supervisor, settings=settings, oom=oom)
        self.mute = Mute(silences, store)
        self.notify = Notify(outbox, store, clock, host)
        self.group = GroupStage(book=self.book, store=store, notify=self.notify, settings=settings, clock=clock,
                                lock=self._lock)
        #: failure events whose incident could not be written (disk full): handled again on each tick
        self._retry: list[ProgramEvent] = []
        self._stopped: dict[str, str] = {}          # program -> who stopped it by hand
        self._tasks: list[asyncio.Task[None]] = []

    # -- the pipeline ----------------------------------------------------
    async def _failure(self, ev: ProgramEvent) -> None:
        step = await self.intake.failure(ev)
        inc = step.incident
        if not step.opened:
            await self.group.failed_again(inc, reopened=step.reopened)
        if state_of(inc) is IncidentState.UNANNOUNCED:  # new, or it never had a message of its own
            if await self.mute.admit(inc, Say.ALERT):
                await self.group.place(inc)
        else:
            await self._edit(inc)

    async def _resolve(self, program: str, at: float, resolution: str, *, recovery: bool) -> None:
        inc = self.book.current(program)
        if inc is None:
            return
        resolve(inc, at, resolution)
        recovery = recovery and await self.mute.admit(inc, Say.RECOVERY)
        await self.store.save(inc)
        grp = self.group.group_of(inc)
        if grp is not None:
            await self.group.member_resolved(grp, at, recovery=recovery)
        elif inc.roots:
            await self.notify.edit(inc)
            if recovery:
                await self.notify.recovery(inc)
        # held: the hold's end posts the alert as it then reads (resolved)

    async def _edit(self, inc: Incident) -> None:
        grp = self.group.group_of(inc)
        if grp is not None:
            self.group.edit(grp)
        elif inc.roots:
            await self.notify.edit(inc)

    async def tick(self) -> None:
        """Re-announce long-open incidents, post what a silence held back, resolve the stopped and removed."""
        await self._retry_failed()
        now = self.clock.time()
        repeat = self.settings().repeat_interval
        configured = set(self.sup.names())
        for inc in self.book.open():
            if inc.program not in configured:
                await self._resolve(inc.program, now, "no longer configured", recovery=False)
            elif (stopped_by := self._stopped_by_hand(inc.program)) is not None:
                # checked here, not on STOPPED: a Restart press is a STOPPED then a STARTED
                await self._resolve(inc.program, now, stopped_by, recovery=False)
            elif (say := due(inc, now, repeat)) is not None and await self.mute.admit(inc, say):
                await self.notify.say(inc, say)
        await self.group.tick(now)

    # -- events ----------------------------------------------------------
    async def handle(self, ev: ProgramEvent) -> None:
        kind = ev.kind
        if kind is EventKind.STARTED:
            self._stopped.pop(ev.program, None)
        if kind.value in FAILURE_KINDS:
            await self._failure(ev)
        elif kind is EventKind.HEALTHY:  # unhealthy, and a probe passed again (no restart)
            await self._resolve(ev.program, ev.at, f"healthy again: {ev.message}" if ev.message else "healthy again",
                                recovery=True)
        elif kind in (EventKind.RUNNING, EventKind.WATCH_FOUND):
            await self._resolve(ev.program, ev.at, f"running again (pid {ev.pid})" if ev.pid else "running again",
                                recovery=True)
        elif kind is EventKind.STARTED and ev.by == "adopted" and self._state(ev.program) is State.RUNNING:
            await self._resolve(ev.program, ev.at, "found running after procbot restarted", recovery=True)
        elif kind is EventKind.STOPPED and not ev.by.startswith("procbot"):
            self._stopped[ev.program] = ev.by  # resolved by tick() if it stays stopped (a restart does not)
        elif kind is EventKind.EXITED and ev.exit_code is not None:
            await self._resolve(ev.program, ev.at, f"exited normally (exit code {ev.exit_code})", recovery=False)

    def _stopped_by_hand(self, program: str) -> str | None:
        """"stopped by slack:U1" while a person's stop holds, else None (procbot's own stops do not count)."""
        by = self._stopped.get(program)
        if by is None or self._state(program) is not State.STOPPED:
            return None
        return f"stopped by {by}"

    def _state(self, program: str) -> State | None:
        try:
            return self.sup.state(program).state
        except ProcbotError:
            return None

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        """Load open incidents and finish what a previous run left half done, then follow events."""
        for inc in await self.store.open_incidents():
            self.book.remember(inc)
        await self.group.load()
        async with self._lock:
            await self._resume()
        self._tasks = [
            asyncio.create_task(self._consume(), name="alert-policy"),
            asyncio.create_task(self._tick_loop(), name="alert-ticks"),
        ]

    async def _resume(self) -> None:
        await self.group.resume()
        for inc in self.book.open():
            if state_of(inc) is IncidentState.HELD:  # its hold timer ended with the previous run
                move(inc, IncidentState.UNANNOUNCED)
            if state_of(inc) is IncidentState.UNANNOUNCED and await self.mute.admit(inc, Say.ALERT):
                await self.notify.alert(inc)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.group.stop()
        self.bus.unsubscribe(self._queue)

    async def settle(self) -> None:
        """Wait until every event published so far is handled and held alerts or edits went out (tests, bench)."""
        await self._queue.join()
        while pending := self.group.pending():
            await asyncio.gather(*pending, return_exceptions=True)
            await self._queue.join()

    async def _consume(self) -> None:
        while True:
            ev = await self._queue.get()
            try:
                async with self._lock:
                    await self.handle(ev)
            except ProcbotError as e:
                log.error("alerts: could not handle %s of %s: %s", ev.kind.value, ev.program, e)
                if ev.kind.value in FAILURE_KINDS and len(self._retry) < MAX_RETRY_EVENTS:
                    self._retry.append(ev)  # a crash must still be announced once the registry recovers
            except Exception:  # boundary: one bad event must not end alerting (logged with traceback)
                log.exception("alerts: bug while handling %s of %s", ev.kind.value, ev.program)
            finally:
                self._queue.task_done()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                async with self._lock:
                    await self.tick()
            except ProcbotError as e:
                log.error("alerts: periodic check failed: %s", e)
            except Exception:  # boundary, as in _consume
                log.exception("alerts: bug in the periodic check")

    async def _retry_failed(self) -> None:
        retry, self._retry = self._retry, []
        for i, ev in enumerate(retry):
            try:
                await self.handle(ev)
            except ProcbotError as e:
                log.error("alerts: still cannot handle %s of %s: %s", ev.kind.value, ev.program, e)
                self._retry = retry[i:] + self._retry
                break

    # -- reading ---------------------------------------------------------
    def open_incidents(self) -> list[Incident]:
        return self.book.open()

    def open_groups(self) -> list[AlertGroup]:
        return self.group.open_groups()
