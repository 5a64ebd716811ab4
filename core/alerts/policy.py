"""Turns lifecycle events into incidents and incidents into outbox entries.

One incident per crash episode of a program:

* the first failure (crash, failed start, give-up, watched program lost)
  opens an incident and queues **one** alert per destination;
* further failures while it is open, or within ``flap_window`` of its last
  failure after it recovered, edit that alert in place ("crashed 7 times in
  4m12s, restart in 32s") - a flapping program is one message;
* when the program has stayed up for its minimum uptime (``RUNNING``, or a
  watched program found again) the alert is edited to "recovered" and a
  recovery goes in its thread;
* an incident still open after ``repeat_interval`` is re-announced with a
  new message;
* many programs failing together on one route become one grouped alert
  (:mod:`core.alerts.grouping`);
* a silenced program's incident is recorded but nothing new is posted; when
  the silence ends and the incident is still open, its current state is
  posted once. Edits of messages already posted go on during a silence (an
  edit notifies nobody) so chat never shows a stale state.

Idempotency: an incident row is written before any message is queued, and
every queued message carries a dedup key built from the incident id, so
replaying the same step after a restart cannot queue a second alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from core.alerts import messages as af
from core.alerts.grouping import StormDetector, Verdict
from core.alerts.incidents import FAILURE_KINDS, AlertGroup, Incident, IncidentStore
from core.alerts.outbox import Outbox
from core.alerts.routes import Router
from core.alerts.silences import Silences
from core.clock import Clock
from core.errors import ProcbotError
from core.process.events import EventBus, EventKind, ProgramEvent
from core.process.logs import log_path, tail
from core.process.oom import OomWatch
from core.process.states import State
from core.process.supervisor import Supervisor
from core.redact import mask_lines
from core.spec import AlertSettings

log = logging.getLogger(__name__)

MAX_RETRY_EVENTS = 1000

MAX_LOG_LINE = 400


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
        self.outbox = outbox
        self.store = store
        self.silences = silences
        self.sup = supervisor
        self.settings = settings
        self.clock = clock
        self.host = host
        self.oom = oom
        self.tick_interval = tick_interval
        # subscribe now, not in start(): nothing published between assembly and start is missed
        self._queue = bus.subscribe()
        self._lock = asyncio.Lock()
        #: failure events whose incident could not be written (disk full): handled again on each tick
        self._retry: list[ProgramEvent] = []
        self._last: dict[str, Incident] = {}     # program -> its latest incident (open or recently resolved)
        self._by_id: dict[int, Incident] = {}
        self._groups: dict[int, AlertGroup] = {}
        self._looked_up: set[str] = set()
        self._stopped: dict[str, str] = {}          # program -> who stopped it by hand
        self._router: tuple[object, Router] | None = None
        self._storm: tuple[tuple[float, int], StormDetector] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._holds: set[asyncio.Task[None]] = set()
        self._edits: dict[int, asyncio.Task[None]] = {}   # group id -> pending (debounced) edit

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        """Load open incidents and finish what a previous run left half done, then follow events."""
        for inc in await self.store.open_incidents():
            self._remember(inc)
        for grp in await self.store.open_groups():
            self._groups[grp.id] = grp
            for m in await self.store.by_ids(grp.members):
                self._by_id.setdefault(m.id, m)
            if grp.roots:  # the storm goes on after a restart: failures within the window still join it
                self._detector().group_started(grp.route_key, grp.id, grp.last_join_at)
        async with self._lock:
            await self._resume()
        self._tasks = [
            asyncio.create_task(self._consume(), name="alert-policy"),
            asyncio.create_task(self._tick_loop(), name="alert-ticks"),
        ]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._holds, *self._edits.values()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._holds.clear()
        self._edits.clear()
        self.bus.unsubscribe(self._queue)

    async def settle(self) -> None:
        """Wait until every event published so far is handled and held alerts or edits went out (tests, bench)."""
        await self._queue.join()
        while pending := [*self._holds, *self._edits.values()]:
            await asyncio.gather(*pending, return_exceptions=True)
            await self._queue.join()

    async def _resume(self) -> None:
        for grp in [g for g in self._groups.values() if g.resolved_at is None and not g.roots]:
            members = [self._by_id[m] for m in grp.members if m in self._by_id]
            if members and all(m.group_id == grp.id for m in members):
                await self._announce_group(grp)
            else:  # died between creating the group and folding its members in: they go alone
                grp.resolved_at = self.clock.time()
                await self.store.save_group(grp)
        for grp in [g for g in self._groups.values() if g.resolved_at is None and g.roots]:
            await self._refresh_group(grp)  # an edit still waiting when procbot stopped is redone
        for inc in [i for i in self._last.values() if i.open and not i.posted and i.group_id is None]:
            if self._silenced(inc):
                inc.suppressed = True
                await self.store.save(inc)
            elif not inc.suppressed:
                await self._announce(inc)

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

    # -- configuration ---------------------------------------------------
    def _routes(self) -> Router:
        routes = self.settings().route
        if self._router is None or self._router[0] is not routes:
            self._router = (routes, Router(routes))
        return self._router[1]

    def _detector(self) -> StormDetector:
        s = self.settings()
        key = (s.group_window, s.group_threshold)
        if self._storm is None:
            self._storm = (key, StormDetector(s.group_window, s.group_threshold))
        elif self._storm[0] != key:  # reloaded: keep what is held and grouped, judge new failures by the new rule
            self._storm[1].retune(s.group_window, s.group_threshold)
            self._storm = (key, self._storm[1])
        return self._storm[1]

    def _silenced(self, inc: Incident) -> bool:
        return self.silences.matching(inc.program, inc.group) is not None

    def _remember(self, inc: Incident) -> None:
        self._last[inc.program] = inc
        self._by_id[inc.id] = inc
        self._looked_up.add(inc.program)

    # -- events ----------------------------------------------------------
    async def handle(self, ev: ProgramEvent) -> None:
        kind = ev.kind
        if kind is EventKind.STARTED:
            self._stopped.pop(ev.program, None)
        if kind.value in FAILURE_KINDS:
            await self._failure(ev)
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

    async def _failure(self, ev: ProgramEvent) -> None:
        s = self.settings()
        lines, oom = await self._gather(ev, s.log_lines)
        inc = await self._latest(ev.program)
        if inc is not None and (inc.open or 0 <= ev.at - inc.last_failure_at <= s.flap_window):
            reopened = not inc.open
            if reopened:
                inc.resolved_at, inc.resolution = None, ""
                inc.reopened += 1
            inc.crashes += 1
            _apply(inc, ev, lines, oom)
            grp = self._groups.get(inc.group_id) if inc.group_id is not None else None
            if grp is None:
                inc.group_id = None  # its group is over and forgotten (or from before a restart): alone now
            await self.store.save(inc)
            if reopened and grp is not None and grp.resolved_at is not None:
                grp.resolved_at = None
                await self.store.save_group(grp)
            if grp is None and not inc.posted and not inc.held and not inc.suppressed:
                await self._open(inc)  # it never had a message of its own
            else:
                await self._refresh(inc)
            return
        runner = self.sup.runners.get(ev.program)
        inc = Incident(
            program=ev.program, opened_at=ev.at, updated_at=ev.at, group=ev.group,
            kind="managed" if runner is not None or ev.program not in self.sup.watched else "watched",
            destinations=list(self._routes().destinations(ev.program, ev.group)),
        )
        _apply(inc, ev, lines, oom)
        inc = await self.store.create(inc)
        self._remember(inc)
        await self._open(inc)

    async def _latest(self, program: str) -> Incident | None:
        if program not in self._looked_up:  # first failure since start: the last run may have left one
            self._looked_up.add(program)
            found = await self.store.latest(program)
            if found is not None:
                self._remember(found)
        return self._last.get(program)

    async def _gather(self, ev: ProgramEvent, n: int) -> tuple[list[str], bool]:
        """Last log lines (masked) and the OOM guess, read in a worker thread."""
        path = log_path(self.sup.config.log_dir, ev.program) if n and ev.program in self.sup.runners else None
        check_oom = ev.signal == "SIGKILL" and self.oom is not None
        if path is not None:
            await self.sup.logs.flush(ev.program)  # the lines written just before the exit are in the file

        def work() -> tuple[list[str], bool]:
            lines = tail(path, n) if path is not None else []
            return lines, bool(check_oom and self.oom and self.oom.killed_since_last())

        lines, oom = await asyncio.to_thread(work)
        return mask_lines([line[:MAX_LOG_LINE] for line in lines]), oom

    async def _open(self, inc: Incident) -> None:
        if self._silenced(inc):
            inc.suppressed = True
            await self.store.save(inc)
            return
        key = tuple(inc.destinations)
        d = self._detector().opened(key, inc.id, inc.opened_at, inc.program)
        if d.verdict is Verdict.POST:
            await self._announce(inc)
        elif d.verdict is Verdict.HOLD:
            inc.held = True
            await self.store.save(inc)
            task = asyncio.create_task(self._release_later(inc, self.settings().group_hold),
                                       name=f"alert-hold-{inc.program}")
            self._holds.add(task)
            task.add_done_callback(self._holds.discard)
        elif d.verdict is Verdict.START_GROUP:
            await self._start_group(inc.destinations, d.members, inc.opened_at)
        else:
            grp = self._groups.get(d.group_id) if d.group_id is not None else None
            if grp is None:
                await self._announce(inc)
                return
            inc.group_id = grp.id
            await self.store.save(inc)
            grp.members.append(inc.id)
            grp.last_join_at = max(grp.last_join_at, inc.opened_at)
            grp.resolved_at = None
            await self.store.save_group(grp)
            await self._refresh_group(grp)

    async def _release_later(self, inc: Incident, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._lock:
            if self._detector().release(tuple(inc.destinations), inc.id) and inc.held:
                await self._announce(inc)

    async def _resolve(self, program: str, at: float, resolution: str, *, recovery: bool) -> None:
        inc = self._last.get(program)
        if inc is None or not inc.open:
            return
        inc.resolved_at, inc.resolution, inc.updated_at = at, resolution, at
        silenced = self._silenced(inc)
        inc.suppressed = False  # nothing retroactive once it is over
        await self.store.save(inc)
        if inc.group_id is not None and inc.group_id in self._groups:
            await self._member_resolved(self._groups[inc.group_id], at, recovery and not silenced)
        elif inc.posted:
            await self._refresh(inc)
            if recovery and not silenced:
                await self._post_recovery(inc)
        # held: the hold's end posts the alert as it then reads (resolved)

    # -- messages --------------------------------------------------------
    async def _announce(self, inc: Incident) -> None:
        reply = af.incident_reply(inc, self.host, self.clock.time())
        for dest in inc.destinations:
            inc.roots[dest] = await self.outbox.post(dest, reply, dedup_key=f"incident:{inc.id}:alert:{dest}",
                                                     incident_id=inc.id)
        inc.held = False
        inc.announced_at = self.clock.time()
        await self.store.save(inc)

    async def _refresh(self, inc: Incident) -> None:
        if inc.group_id is not None and inc.group_id in self._groups:
            await self._refresh_group(self._groups[inc.group_id])
            return
        if not inc.roots:
            return
        reply = af.incident_reply(inc, self.host, self.clock.time())
        for dest, root in inc.roots.items():
            await self.outbox.update(dest, root, reply, incident_id=inc.id)

    async def _post_recovery(self, inc: Incident) -> None:
        reply = af.recovery_reply(inc, self.host, self.clock.time())
        for dest, root in inc.roots.items():
            if dest in inc.recoveries:  # recovered before, flapped, recovered again: edit that reply
                await self.outbox.update(dest, inc.recoveries[dest], reply, incident_id=inc.id)
            else:
                inc.recoveries[dest] = await self.outbox.reply(
                    dest, root, reply, dedup_key=f"incident:{inc.id}:recovery:{dest}", incident_id=inc.id)
        await self.store.save(inc)

    async def _remind(self, inc: Incident, *, after_silence: bool = False) -> None:
        n = inc.reminders + 1
        reply = af.reminder_reply(inc, self.host, self.clock.time(), after_silence=after_silence)
        for dest in inc.destinations:
            await self.outbox.post(dest, reply, dedup_key=f"incident:{inc.id}:reminder:{n}:{dest}",
                                   incident_id=inc.id)
        inc.reminders = n
        inc.announced_at = self.clock.time()
        await self.store.save(inc)

    # -- groups ----------------------------------------------------------
    def _members(self, grp: AlertGroup) -> list[Incident]:
        return [self._by_id[m] for m in grp.members if m in self._by_id]

    async def _start_group(self, destinations: list[str], member_ids: list[int], at: float) -> None:
        members = [self._by_id[m] for m in member_ids]
        grp = AlertGroup(opened_at=min(m.opened_at for m in members), updated_at=at,
                         destinations=list(destinations), members=list(member_ids), last_join_at=at)
        grp = await self.store.create_group(grp)
        self._groups[grp.id] = grp
        self._detector().group_started(grp.route_key, grp.id, at)
        for m in members:
            m.held, m.group_id = False, grp.id
            await self.store.save(m)
        await self._announce_group(grp)

    async def _announce_group(self, grp: AlertGroup) -> None:
        reply = af.group_reply(grp, self._members(grp), self.host, self.clock.time())
        for dest in grp.destinations:
            grp.roots[dest] = await self.outbox.post(dest, reply, dedup_key=f"group:{grp.id}:alert:{dest}")
        grp.announced_at = self.clock.time()
        await self.store.save_group(grp)

    async def _refresh_group(self, grp: AlertGroup, *, now: bool = False) -> None:
        """Edit the group alert; edits in a burst (40 programs joining) wait ``group_hold`` and go as one."""
        if now:
            await self._edit_group(grp)
        elif grp.id not in self._edits:
            task = asyncio.create_task(self._edit_group_later(grp), name=f"alert-group-{grp.id}")
            self._edits[grp.id] = task
            task.add_done_callback(lambda _t, gid=grp.id: self._edits.pop(gid, None))

    async def _edit_group_later(self, grp: AlertGroup) -> None:
        await asyncio.sleep(self.settings().group_hold)
        async with self._lock:
            self._edits.pop(grp.id, None)  # an edit wanted from now on needs a new timer
            await self._edit_group(grp)

    async def _edit_group(self, grp: AlertGroup) -> None:
        reply = af.group_reply(grp, self._members(grp), self.host, self.clock.time())
        for dest, root in grp.roots.items():
            await self.outbox.update(dest, root, reply)

    async def _member_resolved(self, grp: AlertGroup, at: float, recovery: bool) -> None:
        members = self._members(grp)
        if any(m.open for m in members):
            await self._refresh_group(grp)
            return
        grp.resolved_at, grp.updated_at = at, at
        await self._refresh_group(grp, now=True)
        if recovery:
            reply = af.group_recovery_reply(grp, members, self.host, self.clock.time())
            for dest, root in grp.roots.items():
                if dest in grp.recoveries:
                    await self.outbox.update(dest, grp.recoveries[dest], reply)
                else:
                    grp.recoveries[dest] = await self.outbox.reply(dest, root, reply,
                                                                   dedup_key=f"group:{grp.id}:recovery:{dest}")
        await self.store.save_group(grp)

    # -- time-driven -----------------------------------------------------
    async def tick(self) -> None:
        """Re-announce long-open incidents, post what a silence held back, drop removed programs."""
        retry, self._retry = self._retry, []
        for i, ev in enumerate(retry):
            try:
                await self.handle(ev)
            except ProcbotError as e:
                log.error("alerts: still cannot handle %s of %s: %s", ev.kind.value, ev.program, e)
                self._retry = retry[i:] + self._retry
                break
        now = self.clock.time()
        repeat = self.settings().repeat_interval
        configured = set(self.sup.names())
        for inc in [i for i in self._last.values() if i.open]:
            if inc.program not in configured:
                await self._resolve(inc.program, now, "no longer configured", recovery=False)
                continue
            if (stopped_by := self._stopped_by_hand(inc.program)) is not None:
                # checked here, not on STOPPED: a Restart press is a STOPPED then a STARTED
                await self._resolve(inc.program, now, stopped_by, recovery=False)
                continue
            if inc.held or inc.group_id is not None:
                continue
            silenced = self._silenced(inc)
            if not inc.posted and not inc.suppressed and not silenced:
                await self._announce(inc)  # its first post was never queued (the registry failed)
                continue
            if inc.suppressed and not silenced:
                inc.suppressed = False
                if inc.posted:
                    await self._remind(inc, after_silence=True)
                else:
                    await self._announce(inc)
            elif inc.posted and inc.announced_at is not None and now - inc.announced_at >= repeat:
                if silenced:
                    inc.suppressed = True
                    await self.store.save(inc)
                else:
                    await self._remind(inc)
        for grp in [g for g in self._groups.values() if g.resolved_at is None and g.roots]:
            if grp.announced_at is not None and now - grp.announced_at >= repeat:
                await self._remind_group(grp, now)
        self._forget(now)

    def _forget(self, now: float) -> None:
        """Drop from memory what can no longer change: resolved groups and incidents nobody refers to."""
        keep_for = self.settings().flap_window
        for gid in [g.id for g in self._groups.values()
                    if g.resolved_at is not None and now - g.resolved_at > keep_for and g.id not in self._edits]:
            del self._groups[gid]
        wanted = {i.id for i in self._last.values()} | {m for g in self._groups.values() for m in g.members}
        for iid in [i for i in self._by_id if i not in wanted]:
            del self._by_id[iid]

    async def _remind_group(self, grp: AlertGroup, now: float) -> None:
        n = grp.reminders + 1
        reply = af.group_reminder_reply(grp, self._members(grp), self.host, now)
        for dest in grp.destinations:
            await self.outbox.post(dest, reply, dedup_key=f"group:{grp.id}:reminder:{n}:{dest}")
        grp.reminders, grp.announced_at = n, now
        await self.store.save_group(grp)

    # -- reading ---------------------------------------------------------
    def open_incidents(self) -> list[Incident]:
        return sorted((i for i in self._last.values() if i.open), key=lambda i: i.opened_at)


def _apply(inc: Incident, ev: ProgramEvent, lines: list[str], oom: bool) -> None:
    """Copy the latest failure's details onto the incident."""
    inc.updated_at = inc.last_failure_at = ev.at
    inc.cause = ev.kind.value
    inc.exit_code, inc.signal, inc.oom = ev.exit_code, ev.signal, oom
    inc.runtime, inc.pid = ev.runtime, ev.pid
    inc.restarts, inc.failures_in_window = ev.restarts, ev.failures_in_window
    inc.next_action, inc.message = ev.next_action, ev.message
    inc.log_lines = lines

