"""``max_memory``: restart a program whose tree stays above its limit, like PM2's max_memory_restart.

The decision is pure (:class:`MemoryLimits`, fed one sample per scan, tested without processes):
a program is over its limit when the RSS of its whole tree (leader and descendants, as the
scanner sums it) is above ``max_memory``; after ``max_memory_samples`` consecutive samples over
it, it breaches, once for the episode. An episode ends when a sample is back under the limit or
the program has another pid (it was restarted): only then can it breach again. So a program is
never restarted twice for one growth, and one alert says so, not one per sample.

:class:`MemoryGuard` is the I/O around it: after each scan it asks the decision about every
running program that has a limit, and for a breach publishes a ``memory_limit`` event (the
alert: "web used 612 MiB > max_memory 512 MiB for 3 samples: restarting") and restarts the
program through its runner, gracefully (stop_signal, stop_timeout, then a start), counted as a
restart. Samples arrive every ``scan_interval``, so the restart comes N intervals after the
growth; a program that grows faster than that is the kernel's to stop: in cgroup mode procbot
also writes ``memory.max`` (:func:`hard_limit`) and reports the OOM kills it causes exactly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.clock import Clock
from core.errors import ProcbotError
from core.process.events import EventBus, EventKind, ProgramEvent
from core.process.states import STARTED_STATES
from core.spec import ProgramSpec
from core.spec.sizes import show_size

if TYPE_CHECKING:  # the runner asks this module for hard_limit
    from core.process.runner import ProgramRunner

log = logging.getLogger(__name__)

#: by, in the events and the run rows, of a restart for max_memory
BY = "procbot (max_memory)"
#: the kernel's hard limit above the restart limit when max_memory_hard is not set
HARD_FACTOR = 1.5
_PAGE = 4096


def hard_limit(spec: ProgramSpec) -> int | None:
    """The ``memory.max`` procbot writes for the program's cgroup; None for no limit ("max").

    Above the restart limit, not at it: at ``memory.max`` the kernel reclaims, then OOM-kills
    (SIGKILL, no clean shutdown), and a program held at the limit by the kernel could never
    *stay above* it for procbot's samples. So the graceful restart is the normal way out and the
    kernel the backstop for growth faster than the sampling: ``max_memory_hard``, or half as
    much again as ``max_memory``, in whole pages.
    """
    if spec.max_memory is None:
        return None
    if spec.max_memory_hard is not None:
        return spec.max_memory_hard
    return int(spec.max_memory * HARD_FACTOR) // _PAGE * _PAGE


def memory_limit_text(spec: ProgramSpec) -> str:
    """The limit as ``info`` shows it: "512 MiB for 3 scans, then restarted; the kernel's memory.max 768 MiB"."""
    assert spec.max_memory is not None
    hard = hard_limit(spec)
    n = spec.max_memory_samples
    return (f"{show_size(spec.max_memory)} for {n} scan{'' if n == 1 else 's'}, then restarted; "
            f"memory.max {show_size(hard or 0)} in cgroup mode")


@dataclass(frozen=True)
class Breach:
    program: str
    pid: int
    rss: int
    limit: int
    samples: int

    def message(self) -> str:
        return (f"{self.program} used {show_size(self.rss)} > max_memory {show_size(self.limit)} "
                f"for {self.samples} sample{'' if self.samples == 1 else 's'}")


@dataclass
class _Episode:
    pid: int
    over: int = 0          # consecutive samples above the limit
    breached: bool = False  # this episode was acted on already


class MemoryLimits:
    """Consecutive samples above the limit, per program and pid. Pure: no clock, no I/O."""

    def __init__(self) -> None:
        self._episodes: dict[str, _Episode] = {}

    def observe(self, program: str, pid: int, rss: int, limit: int, samples: int) -> Breach | None:
        """One sample; a Breach the first time ``samples`` consecutive ones are above ``limit``."""
        ep = self._episodes.get(program)
        if ep is None or ep.pid != pid:  # first sample, or a new run: a fresh count
            ep = self._episodes[program] = _Episode(pid)
        if rss <= limit:
            ep.over, ep.breached = 0, False
            return None
        ep.over += 1
        if ep.over < samples or ep.breached:
            return None
        ep.breached = True
        return Breach(program, pid, rss, limit, ep.over)

    def forget(self, program: str) -> None:
        """Not running (or no limit any more): the next sample starts a new count."""
        self._episodes.pop(program, None)

    def keep_only(self, programs: set[str]) -> None:
        for name in [n for n in self._episodes if n not in programs]:
            del self._episodes[name]


class MemoryGuard:
    """After each scan: breaches become an event and a restart through the runner (a task it owns)."""

    def __init__(self, runners: Callable[[], Mapping[str, ProgramRunner]], bus: EventBus, clock: Clock,
                 own: Callable[[asyncio.Task[None]], None]) -> None:
        self._runners = runners  # the supervisor's runners: read at each check (a reload replaces them)
        self.bus = bus
        self.clock = clock
        self._own = own
        self.limits = MemoryLimits()

    def check(self) -> None:
        """One pass over the programs with a limit; called on the loop with the scan's fresh samples."""
        limits, seen = self.limits, set()
        for name, runner in self._runners().items():
            spec = runner.spec
            if spec.max_memory is None:
                continue
            st = runner.st
            if st.state not in STARTED_STATES or st.pid is None:
                continue
            seen.add(name)
            breach = limits.observe(name, st.pid, st.rss_bytes, spec.max_memory, spec.max_memory_samples)
            if breach is not None:
                self._act(runner, breach)
        limits.keep_only(seen)

    def _act(self, runner: ProgramRunner, breach: Breach) -> None:
        st = runner.st
        text = breach.message()
        log.warning("%s: restarting", text)
        self.bus.publish(ProgramEvent(
            EventKind.MEMORY_LIMIT, breach.program, self.clock.time(), pid=breach.pid, restarts=st.restarts + 1,
            next_action="restarting", message=text, by=BY, group=st.group))
        self._own(asyncio.ensure_future(self._restart(runner, breach)))

    async def _restart(self, runner: ProgramRunner, breach: Breach) -> None:
        try:
            if not await runner.restart_running(BY):
                log.info("%s was no longer running: not restarted for max_memory", breach.program)
        except ProcbotError as e:
            log.error("restarting %s for max_memory failed: %s", breach.program, e)
