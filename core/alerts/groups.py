"""The group stage: many programs failing together on one route become one grouped alert.

:mod:`core.alerts.grouping` decides (pure); this stage acts on its verdicts:
posts a lone alert, holds one for ``group_hold`` seconds, starts a group that
takes in the held ones, or folds a new incident into the open group and
edits its message. Edits in a burst (40 programs joining) wait
``group_hold`` and go as one.

There is one detector for the stage's whole life: a reload retunes it in
place and a restart re-seeds it with the groups still open, so a storm that
spans either stays one group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from core.alerts.book import IncidentBook
from core.alerts.grouping import StormDetector, Verdict
from core.alerts.incident_state import IncidentState, move
from core.alerts.incidents import AlertGroup, Incident, IncidentStore
from core.alerts.notify import Notify
from core.clock import Clock
from core.spec import AlertSettings


class GroupStage:
    def __init__(self, *, book: IncidentBook, store: IncidentStore, notify: Notify,
                 settings: Callable[[], AlertSettings], clock: Clock, lock: asyncio.Lock) -> None:
        self.book = book
        self.store = store
        self.notify = notify
        self.settings = settings
        self.clock = clock
        self.lock = lock  # the policy's: a hold or a debounced edit acts under it, like an event
        s = settings()
        self._detector = StormDetector(s.group_window, s.group_threshold)
        self.groups: dict[int, AlertGroup] = {}
        self._holds: set[asyncio.Task[None]] = set()
        self._edits: dict[int, asyncio.Task[None]] = {}   # group id -> pending (debounced) edit

    def detector(self) -> StormDetector:
        """The one detector, under the rule the config holds now (a reload may have changed it)."""
        s = self.settings()
        self._detector.retune(s.group_window, s.group_threshold)
        return self._detector

    # -- lifecycle -------------------------------------------------------
    async def load(self) -> None:
        """Groups still open from the previous run, their members, and the storm they are part of."""
        for grp in await self.store.open_groups():
            self.groups[grp.id] = grp
            for m in await self.store.by_ids(grp.members):
                self.book.keep(m)
            if grp.roots:  # failures within the window after the restart still join it
                self.detector().group_started(grp.route_key, grp.id, grp.last_join_at)

    async def resume(self) -> None:
        """Finish what the previous run left half done: a group never posted, an edit never made."""
        for grp in [g for g in self.groups.values() if g.resolved_at is None and not g.roots]:
            members = self.book.members(grp.members)
            if members and all(m.group_id == grp.id for m in members):
                await self.notify.group_alert(grp, members)
                continue
            # died between creating the group and folding its members in: they go alone
            grp.resolved_at = self.clock.time()
            await self.store.save_group(grp)
            for m in members:
                if m.group_id == grp.id:
                    move(m, IncidentState.UNANNOUNCED)
                    await self.store.save(m)
        for grp in [g for g in self.groups.values() if g.resolved_at is None and g.roots]:
            self.edit(grp)  # an edit still waiting when procbot stopped is redone

    def pending(self) -> list[asyncio.Task[None]]:
        return [*self._holds, *self._edits.values()]

    async def stop(self) -> None:
        tasks = self.pending()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._holds.clear()
        self._edits.clear()

    # -- a new incident --------------------------------------------------
    async def place(self, inc: Incident) -> None:
        """Post a new incident's alert, hold it, or fold it into a group: the storm rule decides."""
        d = self.detector().opened(tuple(inc.destinations), inc.id, inc.opened_at, inc.program)
        if d.verdict is Verdict.POST:
            await self.notify.alert(inc)
        elif d.verdict is Verdict.HOLD:
            move(inc, IncidentState.HELD)
            await self.store.save(inc)
            task = asyncio.create_task(self._release_later(inc, self.settings().group_hold),
                                       name=f"alert-hold-{inc.program}")
            self._holds.add(task)
            task.add_done_callback(self._holds.discard)
        elif d.verdict is Verdict.START_GROUP:
            await self._start(inc.destinations, d.members, inc.opened_at)
        else:
            grp = self.groups.get(d.group_id) if d.group_id is not None else None
            if grp is None:
                await self.notify.alert(inc)
                return
            move(inc, IncidentState.GROUPED, group_id=grp.id)
            await self.store.save(inc)
            grp.members.append(inc.id)
            grp.last_join_at = max(grp.last_join_at, inc.opened_at)
            grp.resolved_at = None
            await self.store.save_group(grp)
            self.edit(grp)

    async def _release_later(self, inc: Incident, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self.lock:
            held = self.detector().release(tuple(inc.destinations), inc.id)
            if held and inc.held:  # the hold ended without a storm: posted alone, as it now reads
                await self.notify.alert(inc)

    async def _start(self, destinations: list[str], member_ids: list[int], at: float) -> None:
        members = self.book.members(member_ids)
        grp = AlertGroup(opened_at=min(m.opened_at for m in members), updated_at=at,
                         destinations=list(destinations), members=list(member_ids), last_join_at=at)
        grp = await self.store.create_group(grp)
        self.groups[grp.id] = grp
        self.detector().group_started(grp.route_key, grp.id, at)
        for m in members:
            move(m, IncidentState.GROUPED, group_id=grp.id)
            await self.store.save(m)
        await self.notify.group_alert(grp, members)

    # -- an incident already in a group ----------------------------------
    def group_of(self, inc: Incident) -> AlertGroup | None:
        return self.groups.get(inc.group_id) if inc.group_id is not None else None

    async def failed_again(self, inc: Incident, *, reopened: bool) -> None:
        """A member fails again: its group opens again; a group already forgotten leaves it alone."""
        if inc.group_id is None:
            return
        grp = self.group_of(inc)
        if grp is None:  # its group is over and forgotten (or from before a restart)
            move(inc, IncidentState.UNANNOUNCED)
            await self.store.save(inc)
        elif reopened and grp.resolved_at is not None:
            grp.resolved_at = None
            await self.store.save_group(grp)

    def edit(self, grp: AlertGroup) -> None:
        """Edit the group alert once the burst is over (``group_hold``)."""
        if grp.id not in self._edits:
            task = asyncio.create_task(self._edit_later(grp), name=f"alert-group-{grp.id}")
            self._edits[grp.id] = task
            task.add_done_callback(lambda _t, gid=grp.id: self._edits.pop(gid, None))

    async def _edit_later(self, grp: AlertGroup) -> None:
        await asyncio.sleep(self.settings().group_hold)
        async with self.lock:
            self._edits.pop(grp.id, None)  # an edit wanted from now on needs a new timer
            await self.notify.group_edit(grp, self.book.members(grp.members))

    async def member_resolved(self, grp: AlertGroup, at: float, *, recovery: bool) -> None:
        members = self.book.members(grp.members)
        if any(m.open for m in members):
            self.edit(grp)
            return
        grp.resolved_at, grp.updated_at = at, at
        await self.notify.group_edit(grp, members)
        if recovery:
            await self.notify.group_recovery(grp, members)
        await self.store.save_group(grp)

    # -- time-driven -----------------------------------------------------
    async def tick(self, now: float) -> None:
        """Re-announce groups open longer than ``repeat_interval``; forget those over for a while."""
        s = self.settings()
        for grp in [g for g in self.groups.values() if g.resolved_at is None and g.roots]:
            if grp.announced_at is not None and now - grp.announced_at >= s.repeat_interval:
                await self.notify.group_reminder(grp, self.book.members(grp.members), now)
        for gid in [g.id for g in self.groups.values()
                    if g.resolved_at is not None and now - g.resolved_at > s.flap_window and g.id not in self._edits]:
            del self.groups[gid]
        self.book.forget(m for g in self.groups.values() for m in g.members)

    def open_groups(self) -> list[AlertGroup]:
        return sorted((g for g in self.groups.values() if g.resolved_at is None), key=lambda g: g.opened_at)
