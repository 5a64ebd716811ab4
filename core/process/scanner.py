"""The batch scanner: one pass per tick for every program.

Per tick it reads /proc/<pid>/stat for each tracked pid (leaders and their
known descendants): cost proportional to what procbot tracks, flat in the
host's process count. Every ``tree_scan_every`` ticks it also looks for new
descendants (by session): the first look reads every process on the host,
later ones read only the pids created since (see :class:`_SessionIndex`). It
walks command lines once only while a pattern-watched program is missing. The
OS work runs in a worker thread; the results update the cache on the loop.

Exit detection does not depend on any of this (pidfd events do it), so the
scan only feeds metrics and watched programs: a tick with nothing to read
makes no thread hop, and the per-tick loops over programs are single passes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from dataclasses import dataclass, field
from pathlib import Path

from core.clock import Clock
from core.errors import ProcbotError
from core.process import procfs
from core.process.memory_limit import MemoryGuard
from core.process.states import UP_STATES, State
from core.process.supervisor import Supervisor
from core.process.watched import WatchedProgram
from core.store.registry import Registry, SampleRow
from core.store.rollup import Usage

log = logging.getLogger(__name__)

BUCKET_SECONDS = 60.0
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


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
        memory: MemoryGuard | None = None,
    ) -> None:
        self.sup = supervisor
        self.registry = registry
        self.clock = clock
        self.interval = interval
        self.tree_every = tree_every
        self.bucket_seconds = bucket_seconds
        #: max_memory: judges each scan's fresh tree RSS (and restarts what stayed above its limit)
        self.memory = memory
        self._tick = 0
        self._inflight: asyncio.Future[None] | None = None
        self._prev_cpu: dict[str, tuple[int, float]] = {}
        self._members: dict[str, list[int]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self.scans = 0
        self._pending_rows: list[SampleRow] = []
        self._sessions = _SessionIndex()
        self._stats = _StatFiles(_fd_cap())

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

    async def close(self) -> None:
        """Release the kept /proc descriptors (after the last scan)."""
        await self.settled()
        self._stats.close()

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
        members = self._members
        tracked = [
            _Tracked(st.name, st.pid, st.start_ticks or 0, members.get(st.name, []))
            for st in self.sup.states()
            if st.pid is not None and st.state in UP_STATES
        ]
        watched = self.sup.watched.values()
        pidfile_progs = [w for w in watched if w.pidfile is not None]
        pattern_progs = [w for w in watched if w.pattern is not None and w.st.state is State.MISSING]
        if tracked or pidfile_progs or pattern_progs or self._stats.held:
            res = await asyncio.to_thread(self._collect, tracked, discover, pidfile_progs, pattern_progs)
        else:
            res = _Result()  # nothing to read or close: no thread hop; the samples still record who is down
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
            sessions = self._sessions.members({t.leader for t in tracked})
            for t in tracked:
                t.members = [p for p in sessions.get(t.leader, ()) if p != t.leader]
        usage, stat = res.usage, self._stats
        if discover:
            stat.cap = _fd_cap()  # the daemon may have raised its open-file limit since
        for t in tracked:
            st = stat.read(t.leader)
            if st is None or st[3] != t.ticks:
                continue  # its exit watcher reports the death; nothing to sample
            cpu, rss, pids = st[2], st[4], [t.leader]
            for pid in t.members:
                m = stat.read(pid)
                if m is not None and m[1] == t.leader and m[0] != 90:  # 90 = ord("Z"): a zombie uses nothing
                    cpu += m[2]
                    rss += m[4]
                    pids.append(pid)
            usage[t.name] = (cpu, rss * _PAGE_SIZE, pids)
        stat.sweep()
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
        usage, prev_cpu, members = res.usage, self._prev_cpu, self._members
        # one pass over the current states (a reload may have removed some programs meanwhile)
        for st in self.sup.states():
            u = usage.get(st.name)
            if u is None:
                prev_cpu.pop(st.name, None)
                if st.state not in UP_STATES:
                    st.cpu_percent, st.rss_bytes, st.tree_pids = 0.0, 0, []
                continue
            cpu, rss, pids = u
            prev = prev_cpu.get(st.name)
            if prev is not None and mono > prev[1]:
                st.cpu_percent = max(0.0, (cpu - prev[0]) / procfs.CLK_TCK / (mono - prev[1]) * 100.0)
            prev_cpu[st.name] = (cpu, mono)
            st.rss_bytes = rss
            st.tree_pids = pids
            members[st.name] = pids[1:]
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
        if self.memory is not None:
            self.memory.check()
        self._sample(now)

    def _sample(self, now: float) -> None:
        done: list[SampleRow] = []
        start = now - now % self.bucket_seconds
        buckets = self._buckets
        for st in self.sup.states():
            b = buckets.get(st.name)
            if b is not None and b.start != start:
                done.append(_row(st.name, b, self.bucket_seconds))
                b = None
            if b is None:
                b = buckets[st.name] = _Bucket(start=start)
            # Usage.add(1, cpu, cpu, rss, rss, up) inlined: this runs for every program on every tick
            cpu, rss = st.cpu_percent, st.rss_bytes
            b.n += 1
            b.cpu_sum += cpu
            if cpu > b.cpu_max:
                b.cpu_max = cpu
            b.rss_sum += rss
            if rss > b.rss_max:
                b.rss_max = rss
            if st.state in UP_STATES:
                b.up_n += 1
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


def _parse(data: bytes) -> tuple[int, int, int, int, int]:
    """(state byte, session id, cpu ticks, start ticks, rss pages) from /proc/<pid>/stat."""
    f = data[data.rindex(b")") + 2 :].split()  # comm may hold spaces and parentheses
    return f[0][0], int(f[3]), int(f[11]) + int(f[12]), int(f[19]), int(f[21])


def _usage(pid: int) -> tuple[int, int, int, int, int] | None:
    """One reading of ``pid`` by path (open, read, close), or None if it is gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    try:
        data = os.read(fd, 1024)
    except ProcessLookupError:
        return None
    finally:
        os.close(fd)
    return _parse(data) if data else None


class _StatFiles:
    """/proc/<pid>/stat of each tracked pid, opened once and re-read with ``pread``.

    Most of a reading's cost is the kernel's path walk in open and close, not
    the read: a kept descriptor halves the tick. A descriptor stays bound to the
    process it was opened for (after its death a read fails; a reused pid is
    never read through it). Descriptors are close-on-exec, used only by the
    scan in progress, and capped well under the open-file limit: beyond the
    cap a pid is read by path as before.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._fds: dict[int, int] = {}
        self._used: set[int] = set()

    @property
    def held(self) -> int:
        return len(self._fds)

    def read(self, pid: int) -> tuple[int, int, int, int, int] | None:
        self._used.add(pid)
        fd = self._fds.get(pid)
        if fd is None:
            if len(self._fds) >= self.cap:
                return _usage(pid)
            try:
                fd = self._fds[pid] = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                return None
        try:
            data = os.pread(fd, 1024, 0)
        except OSError:  # ESRCH: the process is gone
            data = b""
        if not data:
            self._drop(pid)
            return None
        return _parse(data)

    def sweep(self) -> None:
        """Close the descriptors of pids this scan did not read (stopped, exited, left)."""
        for pid in [p for p in self._fds if p not in self._used]:
            self._drop(pid)
        self._used.clear()

    def close(self) -> None:
        for pid in list(self._fds):
            self._drop(pid)

    def _drop(self, pid: int) -> None:
        fd = self._fds.pop(pid, None)
        if fd is not None:
            os.close(fd)


def _fd_cap() -> int:
    """How many stat descriptors the scanner may keep: a quarter of what the soft limit leaves after 512."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(0, (soft - 512) // 4)


class _SessionIndex:
    """Which session each process on the host is in, kept up to date by reading only new pids.

    A process joins a session only by being forked into it, so a pid already
    indexed cannot have joined one of ours since (one that left by ``setsid``
    is caught by the per-tick check of its session id). New pids are the only
    candidates, and the kernel hands pids out in increasing order until it
    wraps at ``pid_max``: while every unseen pid is above the highest one of
    the last look, no old pid was reused, and reading the unseen ones is
    enough. After a wrap (an unseen pid below that mark) the index is rebuilt
    from a full walk. This makes the periodic discovery cost the processes
    created since, not the host's process count.
    """

    def __init__(self) -> None:
        self._sid: dict[int, int] = {}  # pid -> session id (-1: gone while read, or a zombie)
        self._top = -1

    def members(self, sids: set[int]) -> dict[int, list[int]]:
        pids = {int(n) for n in os.listdir("/proc") if n[0].isdigit()}
        index = self._sid
        new = pids.difference(index)
        if new and min(new) <= self._top:
            index.clear()  # the pid counter wrapped: an indexed pid may now be another process
            new = pids
        else:
            for gone in [p for p in index if p not in pids]:
                del index[gone]
        for pid in new:
            u = _usage(pid)
            index[pid] = -1 if u is None or u[0] == 90 else u[1]
        if pids:
            self._top = max(pids)
        out: dict[int, list[int]] = {s: [] for s in sids}
        for pid, sid in index.items():
            if sid in out:
                out[sid].append(pid)
        return out
