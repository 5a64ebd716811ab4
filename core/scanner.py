"""The batch scanner: one pass per tick for every program.

Per tick it reads /proc/<pid>/stat for each tracked pid (leaders and their
known descendants): cost proportional to what procbot tracks, flat in the
host's process count. Every ``tree_scan_every`` ticks it also walks /proc
once to discover new descendants (by session), and it walks command lines
once only while a pattern-watched program is missing. The OS work runs in a
worker thread; the results update the cache on the loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from core import procfs
from core.clock import Clock
from core.errors import ProcbotError
from core.program_state import State
from core.registry import Registry, SampleRow
from core.sample_rollup import Usage
from core.supervisor import Supervisor
from core.watched import WatchedProgram

log = logging.getLogger(__name__)

BUCKET_SECONDS = 60.0


@dataclass
class _Tracked:
    name: str
    leader: int
    ticks: int
    members: list[int]


@dataclass
class _Result:
    usage: dict[str, tuple[int, int, list[int]]] = field(default_factory=dict)  # name -> (cpu ticks, rss, pids)
    pidfiles: dict[str, tuple[int | None, int | None, str]] = field(default_factory=dict)
    patterns: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class _Bucket(Usage):
    """One program's samples for one bucket of time."""

    start: float = 0.0


class Scanner:
    def __init__(
        self,
        supervisor: Supervisor,
        registry: Registry,
        clock: Clock,
        interval: float,
        tree_every: int = 6,
        bucket_seconds: float = BUCKET_SECONDS,
    ) -> None:
        self.sup = supervisor
        self.registry = registry
        self.clock = clock
        self.interval = interval
        self.tree_every = tree_every
        self.bucket_seconds = bucket_seconds
        self._tick = 0
        self._inflight: asyncio.Future[None] | None = None
        self._prev_cpu: dict[str, tuple[int, float]] = {}
        self._members: dict[str, list[int]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self.scans = 0
        self._pending_rows: list[SampleRow] = []

    async def scan(self) -> None:
        """Run a scan, or join the one already running: concurrent callers share one pass."""
        if self._inflight is not None and not self._inflight.done():
            await asyncio.shield(self._inflight)
            return
        self._inflight = asyncio.ensure_future(self._scan())
        await asyncio.shield(self._inflight)

    async def settled(self) -> None:
        """Wait for an in-flight scan, if any, without starting one."""
        if self._inflight is not None and not self._inflight.done():
            await asyncio.shield(self._inflight)

    async def run(self) -> None:
        """Scan forever: one failed pass (disk full, a program removed mid-scan) must not end scanning."""
        while True:
            try:
                await self.scan()
            except (OSError, ProcbotError) as e:
                log.error("scan failed: %s", e)
            except Exception:
                log.exception("scan failed unexpectedly")
            await asyncio.sleep(self.interval)

    async def _scan(self) -> None:
        discover = self._tick % self.tree_every == 0
        self._tick += 1
        tracked = [
            _Tracked(st.name, st.pid, st.start_ticks or 0, self._members.get(st.name, []))
            for st in self.sup.states()
            if st.state.is_up and st.pid is not None
        ]
        pidfile_progs = [w for w in self.sup.watched.values() if w.pidfile is not None]
        pattern_progs = [w for w in self.sup.watched.values() if w.pattern is not None and w.st.state is State.MISSING]
        res = await asyncio.to_thread(self._collect, tracked, discover, pidfile_progs, pattern_progs)
        self._apply(res)
        self.scans += 1
        if self._pending_rows:
            await self.flush()

    # -- worker thread ---------------------------------------------------
    def _collect(
        self,
        tracked: list[_Tracked],
        discover: bool,
        pidfile_progs: list[WatchedProgram],
        pattern_progs: list[WatchedProgram],
    ) -> _Result:
        res = _Result()
        if discover and tracked:
            sessions = procfs.session_members({t.leader for t in tracked})
            for t in tracked:
                t.members = [p for p in sessions.get(t.leader, []) if p != t.leader]
        for t in tracked:
            st = procfs.read_stat(t.leader)
            if st is None or st.start_ticks != t.ticks:
                continue  # its exit watcher reports the death; nothing to sample
            cpu, rss, pids = st.cpu_ticks, st.rss_bytes, [t.leader]
            for pid in t.members:
                m = procfs.read_stat(pid)
                if m is not None and m.sid == t.leader and m.state != "Z":
                    cpu += m.cpu_ticks
                    rss += m.rss_bytes
                    pids.append(pid)
            res.usage[t.name] = (cpu, rss, pids)
        btime = procfs.boot_time() if pidfile_progs else 0.0
        for w in pidfile_progs:
            pid, problem = w.read_pidfile()
            ticks = procfs.start_ticks(pid) if pid else None
            if pid and ticks is None:
                problem = f"pid {pid} from {w.pidfile} is not running"
            elif pid and ticks is not None and _started_after(w.pidfile, procfs.ticks_to_epoch(ticks, btime)):
                # the program died and its pid was reused: the pidfile is stale
                problem, ticks = f"stale pidfile: pid {pid} started after {w.pidfile} was written", None
            res.pidfiles[w.st.name] = (pid, ticks, problem)
        if pattern_progs:
            for pid in procfs.all_pids():
                argv = procfs.cmdline(pid)
                if not argv:
                    continue
                for w in pattern_progs:
                    if w.st.name not in res.patterns and w.matches(argv):
                        ticks = procfs.start_ticks(pid)
                        if ticks is not None:
                            res.patterns[w.st.name] = (pid, ticks)
        return res

    # -- back on the loop ------------------------------------------------
    def _apply(self, res: _Result) -> None:
        mono, now = self.clock.monotonic(), self.clock.time()
        current = {st.name: st for st in self.sup.states()}  # a reload may have removed some meanwhile
        for name, (cpu, rss, pids) in res.usage.items():
            st = current.get(name)
            if st is None:
                continue
            prev = self._prev_cpu.get(name)
            if prev is not None and mono > prev[1]:
                st.cpu_percent = max(0.0, (cpu - prev[0]) / procfs.CLK_TCK / (mono - prev[1]) * 100.0)
            self._prev_cpu[name] = (cpu, mono)
            st.rss_bytes = rss
            st.tree_pids = pids
            self._members[name] = pids[1:]
        for st in self.sup.states():
            if st.name not in res.usage:
                self._prev_cpu.pop(st.name, None)
                if not st.state.is_up:
                    st.cpu_percent, st.rss_bytes, st.tree_pids = 0.0, 0, []
        for name, (pid, ticks, problem) in res.pidfiles.items():
            w = self.sup.watched.get(name)
            if w is None:
                continue
            if pid and ticks is not None:
                w.found(pid, ticks)
            else:
                w.missing(problem)
        for w in self.sup.watched.values():
            if w.pattern is not None and w.st.state is State.MISSING:
                if w.st.name in res.patterns:
                    w.found(*res.patterns[w.st.name])
                else:
                    w.missing(f"no process matches {w.spec.pattern!r}")
        self._sample(now)

    def _sample(self, now: float) -> None:
        done: list[SampleRow] = []
        for st in self.sup.states():
            b = self._buckets.get(st.name)
            start = now - now % self.bucket_seconds
            if b is not None and b.start != start:
                done.append(_row(st.name, b, self.bucket_seconds))
                b = None
            if b is None:
                b = self._buckets[st.name] = _Bucket(start=start)
            b.add(1, st.cpu_percent, st.cpu_percent, st.rss_bytes, st.rss_bytes, int(st.state.is_up))
        if done:
            self._pending_rows.extend(done)

    async def flush(self, final: bool = False) -> None:
        """Write finished sample buckets in one batch (and the open ones when ``final``)."""
        rows, self._pending_rows = self._pending_rows, []
        if final:
            rows += [_row(name, b, self.bucket_seconds) for name, b in self._buckets.items() if b.n]
            self._buckets.clear()
        await self.registry.add_samples(rows)


def _started_after(pidfile: Path, started: float) -> bool:
    try:
        return started > pidfile.stat().st_mtime + 2.0
    except OSError:
        return False


def _row(name: str, b: _Bucket, span: float) -> SampleRow:
    return SampleRow(name, b.start, span, b.n, b.cpu_sum / b.n, b.cpu_max, b.rss_sum / b.n, b.rss_max, b.up_n)
