"""The last stage: an incident's or a group's messages, queued for each destination of its route.

The route itself (which destinations) is chosen once, when the incident
opens (:mod:`core.alerts.routes`); this stage fans each message out to those
destinations through the outbox. Every new message carries a dedup key built
from the incident or group id, so a step replayed after a restart never
queues a second one. Whether a destination can edit or thread is the
outbox's business at delivery (:class:`core.ports.Messenger` capabilities):
an edit becomes a follow-up post where it cannot.
"""

from __future__ import annotations

from core.alerts import messages as af
from core.alerts.incident_state import IncidentState, Say, move
from core.alerts.incidents import AlertGroup, Incident, IncidentStore
from core.alerts.outbox import Outbox
from core.clock import Clock


class Notify:
    def __init__(self, outbox: Outbox, store: IncidentStore, clock: Clock, host: str) -> None:
        self.outbox = outbox
        self.store = store
        self.clock = clock
        self.host = host

    # -- one incident ----------------------------------------------------
    async def say(self, inc: Incident, say: Say) -> None:
        if say is Say.ALERT:
            await self.alert(inc)
        elif say is Say.RECOVERY:
            await self.recovery(inc)
        else:
            await self.reminder(inc, after_silence=say is Say.AFTER_SILENCE)

    async def alert(self, inc: Incident) -> None:
        reply = af.incident_reply(inc, self.host, self.clock.time())
        for dest in inc.destinations:
            inc.roots[dest] = await self.outbox.post(dest, reply, dedup_key=f"incident:{inc.id}:alert:{dest}",
                                                     incident_id=inc.id)
        move(inc, IncidentState.ANNOUNCED)
        inc.announced_at = self.clock.time()
        await self.store.save(inc)

    async def edit(self, inc: Incident) -> None:
        reply = af.incident_reply(inc, self.host, self.clock.time())
        for dest, root in inc.roots.items():
            await self.outbox.update(dest, root, reply, incident_id=inc.id)

    async def recovery(self, inc: Incident) -> None:
        reply = af.recovery_reply(inc, self.host, self.clock.time())
        for dest, root in inc.roots.items():
            if dest in inc.recoveries:  # recovered before, flapped, recovered again: edit that reply
                await self.outbox.update(dest, inc.recoveries[dest], reply, incident_id=inc.id)
            else:
                inc.recoveries[dest] = await self.outbox.reply(
                    dest, root, reply, dedup_key=f"incident:{inc.id}:recovery:{dest}", incident_id=inc.id)
        await self.store.save(inc)

    async def reminder(self, inc: Incident, *, after_silence: bool = False) -> None:
        n = inc.reminders + 1
        reply = af.reminder_reply(inc, self.host, self.clock.time(), after_silence=after_silence)
        for dest in inc.destinations:
            await self.outbox.post(dest, reply, dedup_key=f"incident:{inc.id}:reminder:{n}:{dest}",
                                   incident_id=inc.id)
        move(inc, IncidentState.ANNOUNCED)
        inc.reminders = n
        inc.announced_at = self.clock.time()
        await self.store.save(inc)

    # -- a group ---------------------------------------------------------
    async def group_alert(self, grp: AlertGroup, members: list[Incident]) -> None:
        reply = af.group_reply(grp, members, self.host, self.clock.time())
        for dest in grp.destinations:
            grp.roots[dest] = await self.outbox.post(dest, reply, dedup_key=f"group:{grp.id}:alert:{dest}")
        grp.announced_at = self.clock.time()
        await self.store.save_group(grp)

    async def group_edit(self, grp: AlertGroup, members: list[Incident]) -> None:
        reply = af.group_reply(grp, members, self.host, self.clock.time())
        for dest, root in grp.roots.items():
            await self.outbox.update(dest, root, reply)

    async def group_recovery(self, grp: AlertGroup, members: list[Incident]) -> None:
        reply = af.group_recovery_reply(grp, members, self.host, self.clock.time())
        for dest, root in grp.roots.items():
            if dest in grp.recoveries:
                await self.outbox.update(dest, grp.recoveries[dest], reply)
            else:
                grp.recoveries[dest] = await self.outbox.reply(dest, root, reply,
                                                               dedup_key=f"group:{grp.id}:recovery:{dest}")

    async def group_reminder(self, grp: AlertGroup, members: list[Incident], now: float) -> None:
        n = grp.reminders + 1
        reply = af.group_reminder_reply(grp, members, self.host, now)
        for dest in grp.destinations:
            await self.outbox.post(dest, reply, dedup_key=f"group:{grp.id}:reminder:{n}:{dest}")
        grp.reminders, grp.announced_at = n, now
        await self.store.save_group(grp)
