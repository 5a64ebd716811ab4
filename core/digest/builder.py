"""Builds a digest: how every program did over a period, from the registry.

Everything is an aggregate query in the store (the hourly rollup for
samples, GROUP BY for events and runs), so the cost grows with the number of
programs, not with the number of samples: 1000 programs over 30 days build
in well under a second. Formatting is :func:`core.alerts.messages.digest_reply`'s job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from core.alerts.incidents import Incident, IncidentStore
from core.alerts.routes import matches
from core.alerts.silences import Silence, Silences
from core.clock import Clock
from core.process.supervisor import Supervisor
from core.store.registry import Registry
from core.store.rollup import SampleRollup

#: event kinds a digest counts as failures
FAILURE_KINDS = ("crashed", "gave_up", "spawn_failed", "watch_lost", "memory_limit", "unhealthy")
#: who a start is "by" when the restart policy made it (the digest's "restarts")
AUTO_RESTART_BY = "procbot (restart policy)"
TOP_CRASHERS = 5


@dataclass
class ProgramLine:
    name: str
    group: str | None
    state: str
    uptime: float | None          # fraction of the period the program was up; None: no data
    uptime_from: str              # samples | runs | none
    crashes: int = 0
    restarts: int = 0
    cpu_avg: float | None = None
    cpu_max: float | None = None
    rss_avg: float | None = None
    rss_max: int | None = None


@dataclass
class Digest:
    name: str
    host: str
    since: float
    until: float
    programs: list[ProgramLine] = field(default_factory=list)
    open_incidents: list[Incident] = field(default_factory=list)
    silences: list[Silence] = field(default_factory=list)
    #: IANA zone the digest's times are written in (its ``[[digest]]`` timezone); None: the host's
    timezone: str | None = None

    @property
    def top_crashers(self) -> list[ProgramLine]:
        crashed = [p for p in self.programs if p.crashes]
        return sorted(crashed, key=lambda p: (-p.crashes, p.name))[:TOP_CRASHERS]

    @property
    def crashes(self) -> int:
        return sum(p.crashes for p in self.programs)

    @property
    def restarts(self) -> int:
        return sum(p.restarts for p in self.programs)

    def line(self, name: str) -> ProgramLine:
        return next(p for p in self.programs if p.name == name)


class DigestBuilder:
    def __init__(
        self,
        *,
        registry: Registry,
        rollup: SampleRollup,
        incidents: IncidentStore,
        supervisor: Supervisor,
        silences: Silences,
        clock: Clock,
        host: str,
        flush_events: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        #: writes events still batched in memory, so counts and open incidents agree
        self.flush_events = flush_events
        self.registry = registry
        self.rollup = rollup
        self.incidents = incidents
        self.sup = supervisor
        self.silences = silences
        self.clock = clock
        self.host = host

    def programs(self, patterns: Sequence[str]) -> dict[str, str | None]:
        """Configured programs (name -> group) a digest's ``programs`` globs / ``group:`` names cover."""
        return {st.name: st.group for st in self.sup.states()
                if any(matches(p, st.name, st.group) for p in patterns)}

    async def build(self, name: str, since: float, until: float, patterns: Sequence[str] = ("*",),
                    timezone: str | None = None) -> Digest:
        if self.flush_events is not None:
            # events reach SQLite in 50 ms batches while incidents are written at once: without this a
            # digest built just after a crash said "0 failures" beside its own open incident
            await self.flush_events()
        covered = self.programs(patterns)
        first = await self.registry.first_event_at()
        if first is not None and since < first < until:
            since = first  # nothing was watched before procbot first ran: not downtime
        usage = await self.rollup.usage(since, until, self.clock.time())
        counts = await self.registry.failures_and_restarts(since, until, FAILURE_KINDS, AUTO_RESTART_BY)
        missing = [p for p in covered if p not in usage]
        run_up = await self.registry.run_seconds(since, until) if missing else {}
        period = max(until - since, 1e-9)
        lines = []
        for prog, group in covered.items():
            u = usage.get(prog)
            crashes, restarts = counts.get(prog, (0, 0))
            line = ProgramLine(prog, group, self.sup.state(prog).state.value, None, "none", crashes, restarts)
            if u is not None:
                line.uptime, line.uptime_from = u.uptime, "samples"
                line.cpu_avg, line.cpu_max, line.rss_avg, line.rss_max = u.cpu_avg, u.cpu_max, u.rss_avg, u.rss_max
            elif prog in run_up:
                line.uptime, line.uptime_from = min(1.0, run_up[prog] / period), "runs"
            lines.append(line)
        open_incidents = [i for i in await self.incidents.open_incidents() if i.program in covered]
        return Digest(name, self.host, since, until, lines, open_incidents, self.silences.active(), timezone)
