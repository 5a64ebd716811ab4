"""Digests on cron schedules (APScheduler), caught up once after downtime, and on demand.

APScheduler's ``AsyncIOScheduler`` wakes us at each ``[[digest]]``'s cron
time in its time zone; the job only hands the digest's name to a task this
class owns, so every piece of work is cancelled and awaited on stop.

What a firing does is decided with the injected clock, so tests drive it
without sleeping:

* the *due time* is the latest cron time at or before now;
* a due time is posted once: ``digest_runs`` has one row per (name, due
  time), and the outbox entries carry ``digest:<name>:<due>:<dest>`` dedup
  keys, written *before* the ``digest_runs`` row. A crash between the two
  re-posts nothing (the keys exist) and the catch-up records the run;
* on start-up, a due time missed while procbot was down is posted if it is
  at most ``grace`` old and procbot had been running before it (a fresh
  install does not post a digest of nothing).

A digest covers the time since the previous one of the same name (or the
previous cron time if there was none), at most 31 days. On a fleet front,
``gather`` (core.fleet.digests) makes it cover every host: one section each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.cron import last_fire, next_fire, trigger
from bot.job_handoff import JobHandoff
from core.alerts.messages import digest_reply
from core.alerts.outbox import Outbox
from core.clock import Clock
from core.digest.builder import DigestBuilder
from core.reply import Reply, Tone
from core.spec import DigestSpec
from core.store.digest_runs import DigestRuns
from core.store.registry import Registry
from core.store.rollup import SampleRollup

log = logging.getLogger(__name__)

MAX_PERIOD = 31 * 86400.0
#: APScheduler wakes us at the cron time; allow for the two clocks being read a moment apart
FIRE_TOLERANCE = 1.0
ROLLUP_EVERY = 600.0
_ROLLUP = "\0rollup"


class DigestGatherer(Protocol):
    """Builds a digest message from more than this host (a front's :class:`core.fleet.digests.FleetDigests`)."""

    async def reply(self, name: str, since: float, until: float, programs: Sequence[str] = ("*",),
                    timezone: str | None = None) -> Reply: ...

    def defers_to(self) -> str | None:
        """Another front that posts scheduled digests instead of this one (None: this one posts)."""


class DigestScheduler:
    def __init__(
        self,
        *,
        specs: list[DigestSpec],
        builder: DigestBuilder,
        rollup: SampleRollup,
        outbox: Outbox,
        registry: Registry,
        clock: Clock,
        build_delay: float = 0.0,
    ) -> None:
        self.build_delay = build_delay
        self.specs = {d.name: d for d in specs}
        self.triggers: dict[str, CronTrigger] = {d.name: trigger(d.cron, d.timezone) for d in specs}
        self.builder = builder
        self.rollup = rollup
        self.outbox = outbox
        self.runs = DigestRuns(registry)
        self.clock = clock
        self.scheduler: AsyncIOScheduler | None = None
        self.jobs = JobHandoff(self._handle, "digests")
        #: set on a fleet front (bot.fleet.install): digests cover every host
        self.gather: DigestGatherer | None = None

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone=UTC, event_loop=asyncio.get_running_loop())
        for name, trig in self.triggers.items():
            grace = self.specs[name].grace
            self.scheduler.add_job(self.jobs.fire, trig, args=[name], id=f"digest:{name}", coalesce=True,
                                   max_instances=1, misfire_grace_time=max(1, int(grace)))
        # first roll at once, in our worker: after an upgrade it folds the whole history (seconds) before
        # anyone asks for a digest
        self.scheduler.add_job(self.jobs.fire, IntervalTrigger(seconds=ROLLUP_EVERY), args=[_ROLLUP],
                               id="sample-rollup", coalesce=True, max_instances=1, next_run_time=datetime.now(UTC))
        self.scheduler.start()
        self.jobs.start()
        await self.catch_up()

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        await self.jobs.stop()

    async def _handle(self, name: str) -> None:
        if name == _ROLLUP:
            await self.rollup.roll(self.clock.time())
        else:
            await asyncio.sleep(self.build_delay)  # let the scanner write the minute that just ended
            await self.fire(name)

    # -- schedules -------------------------------------------------------
    def next_fire_time(self, name: str, after: float | None = None) -> float | None:
        """When the digest ``name`` fires next (epoch seconds), judged by the injected clock."""
        return next_fire(self.triggers[name], self.clock.time() if after is None else after)

    def job_next_run(self, name: str) -> float | None:
        """APScheduler's own idea of the next run (real time), for checks and ``status``."""
        job = self.scheduler.get_job(f"digest:{name}") if self.scheduler else None
        return job.next_run_time.timestamp() if job is not None and job.next_run_time else None

    async def fire(self, name: str) -> bool:
        """Post the digest due now, if not posted yet and not later than ``grace``; True if posted."""
        spec, now = self.specs[name], self.clock.time()
        due = last_fire(self.triggers[name], now + FIRE_TOLERANCE)
        if due is None or now - due > spec.grace:
            return False
        return await self._post_due(spec, due)

    async def catch_up(self) -> list[str]:
        """On start-up: post each digest missed while procbot was down, if within ``grace``."""
        now = self.clock.time()
        posted = []
        for name, spec in self.specs.items():
            due = last_fire(self.triggers[name], now)
            if due is None or now - due > spec.grace or not await self.runs.history_before(due):
                continue
            if await self._post_due(spec, due):
                log.info("digest %s due at %.0f was missed while procbot was down: posted now", name, due)
                posted.append(name)
        return posted

    async def _post_due(self, spec: DigestSpec, due: float) -> bool:
        if await self.runs.posted(spec.name, due):
            return False
        other = self.gather.defers_to() if self.gather is not None else None
        if other is not None:  # several fronts: one posts, the others note the due time as done
            log.info("digest %s due at %.0f is posted by front %s", spec.name, due, other)
            await self.runs.record(spec.name, due, self.clock.time())
            return False
        since = await self._period_start(spec, due)
        reply = await self._reply(spec.name, since, due, spec.programs, spec.timezone)
        for dest in spec.to:
            await self.outbox.post(dest, reply, dedup_key=f"digest:{spec.name}:{due:.0f}:{dest}")
        await self.runs.record(spec.name, due, self.clock.time())
        return True

    async def _reply(self, name: str, since: float, until: float, programs: Sequence[str] = ("*",),
                     timezone: str | None = None) -> Reply:
        """The digest message: this host's, or on a front the fleet's."""
        if self.gather is not None:
            return await self.gather.reply(name, since, until, programs, timezone)
        return digest_reply(await self.builder.build(name, since, until, programs, timezone))

    async def _period_start(self, spec: DigestSpec, until: float) -> float:
        since = await self.runs.previous_due(spec.name, until)
        if since is None:
            since = last_fire(self.triggers[spec.name], until - 1)
        if since is None:
            since = until - 86400.0
        return max(float(since), until - MAX_PERIOD)

    # -- on demand -------------------------------------------------------
    async def post_now(self, by: str) -> Reply:
        """``/proc digest``: post every configured digest now, or answer with one if none is configured."""
        now = self.clock.time()
        if not self.specs:
            reply = await self._reply("on demand", now - 86400.0, now)
            reply.ephemeral = True
            return reply
        posted = []
        for spec in self.specs.values():
            since = await self._period_start(spec, now)
            reply = await self._reply(spec.name, since, now, spec.programs, spec.timezone)
            reply.text = f"Asked for by {by}. {reply.text}"
            for dest in spec.to:
                await self.outbox.post(dest, reply, dedup_key=f"digest:{spec.name}:manual:{now:.6f}:{dest}")
            posted.append(f"{spec.name} to {', '.join(spec.to)}")
        return Reply(title="Digest posted", text="; ".join(posted) + ".", tone=Tone.OK,
                     data={"posted": list(self.specs)})

