"""One program's health check while it runs: a single owned task that probes, judges and reports.

The runner starts it when the program reaches ``running`` and cancels it when the run ends (awaiting
it on a stop), so a program without a health check costs nothing and one with a check costs one
sleeping task. The task probes at once, then every ``interval`` after the last probe ended (probes
never overlap); :class:`~core.health.verdict.Tracker` decides, the runner's ``report`` acts (state
move, alert, restart) and answers whether to keep probing: a run about to be restarted is not
probed again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from core.clock import Clock
from core.health.probes import Probe
from core.health.verdict import ProbeResult, Tracker, Verdict
from core.spec import HealthSpec

log = logging.getLogger(__name__)

#: the runner's hook: every probe's result, and the verdict when it changed; False ends the probing
Report = Callable[[ProbeResult, Verdict | None], bool]


class HealthMonitor:
    def __init__(self, program: str, spec: HealthSpec, *, probe: Callable[[], Probe], clock: Clock,
                 report: Report, own: Callable[[asyncio.Task[None]], None]) -> None:
        self.program = program
        self.spec = spec
        self._make_probe = probe
        self.clock = clock
        self._report = report
        self._own = own
        self._task: asyncio.Task[None] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The probing task of the current run, while it is alive."""
        return self._task if self._task is not None and not self._task.done() else None

    def start(self, started_mono: float) -> None:
        """Probe the run that started at ``started_mono`` (its start period counts from then). Idempotent."""
        if self.task is not None:
            return
        self._task = asyncio.create_task(self._run(started_mono), name=f"health:{self.program}")
        self._own(self._task)  # awaited at shutdown even when a crash only cancelled it

    def cancel(self) -> asyncio.Task[None] | None:
        """Stop probing (the run ended); the task, to await where the caller can."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        return task

    async def stop(self) -> None:
        """Stop probing and wait until the probe in flight is gone (a command probe killed, a socket closed)."""
        task = self.cancel()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, started_mono: float) -> None:
        tracker = Tracker(self.spec.failures, counts_from=started_mono + self.spec.start_period)
        probe = self._make_probe()
        try:
            while True:
                try:
                    result = await probe.check()
                except Exception:  # a bug in a probe: logged, not counted, never the end of checking
                    log.exception("health check of %s failed unexpectedly", self.program)
                else:
                    if result.output and not result.ok:
                        log.debug("health check of %s: %s; output: %s", self.program, result.detail, result.output)
                    if not self._report(result, tracker.observe(result, self.clock.monotonic())):
                        return
                await asyncio.sleep(self.spec.interval)
        finally:
            await probe.close()
