"""``restart_cron``: restart a running program at cron times, in its time zone (PM2's cron_restart).

Each program with ``restart_cron`` is one APScheduler job (the cron parsing and the weekday fix
of :mod:`bot.cron`, shared with the digests). The job only hands the program's name to a task
this class owns, which restarts it through its runner: a graceful stop (stop_signal,
stop_timeout) and a start, counted as a restart, ``by = "procbot (restart_cron)"`` in the
events and the run row. Only a running program is restarted: one that is stopped, exited or
failing stays as it is (a log line says so), so a schedule never starts what a person stopped.

A time missed while procbot was down is not caught up: a restart at start-up would be no
restart at all. The scheduler exists only while some program has a schedule (APScheduler is
imported with the digests anyway: no start-up cost), and a reload adds and removes jobs
(:meth:`sync`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.cron import next_fire, trigger
from bot.job_handoff import JobHandoff
from core.clock import Clock
from core.process.states import STARTED_STATES
from core.process.supervisor import Supervisor
from core.spec import Config

log = logging.getLogger(__name__)

#: by, in the events and the run rows, of a scheduled restart
BY = "procbot (restart_cron)"
#: a wake-up this late (a busy loop, a suspended VM) still restarts; later than that it waits for the next time
MISFIRE_GRACE = 60


def job_id(program: str) -> str:
    return f"restart:{program}"


class RestartSchedule:
    def __init__(self, supervisor: Supervisor, clock: Clock) -> None:
        self.sup = supervisor
        self.clock = clock
        self.scheduler: AsyncIOScheduler | None = None
        #: program -> (cron, time zone) of its job
        self.schedules: dict[str, tuple[str, str]] = {}
        self.triggers: dict[str, CronTrigger] = {}
        self.jobs = JobHandoff(self.fire, "restart-cron")

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        self.sync(self.sup.config)

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        self.schedules.clear()
        self.triggers.clear()
        await self.jobs.stop()

    def sync(self, config: Config) -> None:
        """One job per program with a ``restart_cron`` (per instance: each is a program of its own): add,
        replace and remove to match ``config``."""
        wanted = {p.name: (p.restart_cron, p.restart_cron_timezone) for p in config.managed if p.restart_cron}
        for name in [n for n, s in self.schedules.items() if wanted.get(n) != s]:
            if self.scheduler is not None:
                self.scheduler.remove_job(job_id(name))
            del self.schedules[name], self.triggers[name]
        for name, (cron, tz) in wanted.items():
            if name in self.schedules:
                continue
            trig = trigger(cron, tz)  # checked by check-config (bot.schedule_check): parses
            self._scheduler().add_job(self.jobs.fire, trig, args=[name], id=job_id(name), coalesce=True,
                                      max_instances=1, misfire_grace_time=MISFIRE_GRACE)
            self.schedules[name], self.triggers[name] = (cron, tz), trig

    def _scheduler(self) -> AsyncIOScheduler:
        if self.scheduler is None:
            self.scheduler = AsyncIOScheduler(timezone=UTC, event_loop=asyncio.get_running_loop())
            self.scheduler.start()
            self.jobs.start()
        return self.scheduler

    # -- firing ----------------------------------------------------------
    async def fire(self, name: str) -> bool:
        """Restart ``name`` now if it is running; True if it was restarted."""
        runner = self.sup.runners.get(name)
        if runner is None or name not in self.schedules:
            return False  # removed by a reload since the job was due
        state = runner.st.state
        if state not in STARTED_STATES or not await runner.restart_running(BY):
            log.info("restart_cron of %s: it is %s, not running: left as it is", name, runner.st.state.value)
            return False
        log.info("restart_cron of %s (%s %s): restarted, pid %s", name, *self.schedules[name], runner.st.pid)
        return True

    async def settled(self) -> None:
        """Every due restart handed over so far is done (tests)."""
        await self.jobs.settled()

    def next_fire_time(self, name: str, after: float | None = None) -> float | None:
        """When ``name`` is restarted next (epoch seconds), judged by the injected clock."""
        return next_fire(self.triggers[name], self.clock.time() if after is None else after)
