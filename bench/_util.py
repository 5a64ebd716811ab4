"""Shared benchmark helpers: statistics, tables, /proc readings and process clean-up.

Standard library only (plus nothing from procbot), so every bench module can use it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
SLEEP = shutil.which("sleep") or "/bin/sleep"


# -- statistics -----------------------------------------------------------
def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def pct(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not xs:
        return math.nan
    s = sorted(xs)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def summary(xs: Sequence[float]) -> dict[str, float]:
    return {"n": len(xs), "median": median(xs), "p99": pct(xs, 99), "min": min(xs, default=math.nan),
            "max": max(xs, default=math.nan), "mean": statistics.fmean(xs) if xs else math.nan}


def timeit(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> list[float]:
    """Seconds per call, ``repeat`` samples after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


async def atimeit(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        await fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


# -- formatting -------------------------------------------------------------
def ms(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    v = x * 1000.0
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return "-"
    r = a / b
    return f"{r:.0f}x" if r >= 100 else (f"{r:.1f}x" if r >= 10 else f"{r:.2f}x")


def table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], notes: Sequence[str] = ()) -> str:
    rows = [[str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    line = "  ".join("-" * w for w in widths)
    out = [f"\n== {title} ==", "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in
                                        enumerate(zip(headers, widths, strict=True))), line]
    for r in rows:
        out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    out += [f"  {n}" for n in notes]
    return "\n".join(out)


def say(*a: Any) -> None:
    print(*a, flush=True)


def progress(msg: str) -> None:
    print(f"   .. {msg}", file=sys.stderr, flush=True)


# -- /proc ------------------------------------------------------------------
def host_process_count() -> int:
    return sum(1 for n in os.listdir("/proc") if n.isdigit())


def stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].decode().split()


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of the process itself (not of its children)."""
    f = stat_fields(pid)
    return int(f[11]) + int(f[12]) if f else None


def alive(pid: int) -> bool:
    f = stat_fields(pid)
    return f is not None and f[0] != "Z"


def status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def children_of(ppid: int) -> list[int]:
    """Pids whose parent is ``ppid`` (one walk of /proc)."""
    out = []
    for n in os.listdir("/proc"):
        if n.isdigit():
            f = stat_fields(int(n))
            if f is not None and int(f[1]) == ppid and f[0] != "Z":
                out.append(int(n))
    return out


# -- the bench's own work area and clean-up -----------------------------------
class Workspace:
    """A temp dir holding symlinked executables; every program the bench starts runs one of them,
    so a last-resort sweep can find and kill anything left behind by argv[0]."""

    def __init__(self, prefix: str = "procbot-bench-") -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.bin = self.root / "bin"
        self.bin.mkdir()
        self.popens: list[subprocess.Popen[bytes]] = []

    def exe(self, name: str, target: str = SLEEP) -> str:
        """A symlink to ``target`` named ``name``: the process's name (comm) becomes ``name``."""
        p = self.bin / name
        if not p.exists():
            p.symlink_to(target)
        return str(p)

    def sub(self, name: str) -> Path:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen[bytes]:
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(list(argv), **kw)
        self.popens.append(p)
        return p

    def owns(self, pid: int) -> bool:
        """True when ``pid`` runs one of our executables (argv[0] in our bin dir)."""
        argv = cmdline(pid)
        return bool(argv) and argv[0].startswith(str(self.bin))

    def sweep(self) -> int:
        """Kill every process whose argv[0] lives in our bin dir or whose cwd/argv names our root."""
        killed = 0
        prefix = str(self.root)
        me = os.getpid()
        for n in os.listdir("/proc"):
            if not n.isdigit() or int(n) == me:
                continue
            argv = cmdline(int(n))
            if argv and (argv[0].startswith(prefix) or any(prefix in a for a in argv[1:])):
                with contextlib.suppress(OSError):
                    os.kill(int(n), signal.SIGKILL)
                    killed += 1
        return killed

    def close(self) -> None:
        for p in self.popens:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.popens:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(p.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(5)
        self.sweep()
        time.sleep(0.2)
        self.sweep()
        shutil.rmtree(self.root, ignore_errors=True)


class ExtraProcesses:
    """``n`` unrelated ``sleep`` processes on the host, direct children of the bench (so it reaps them),
    all in one process group."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> ExtraProcesses:
        pgid = 0
        try:
            for _ in range(self.n):
                p = subprocess.Popen([SLEEP, "100000"], stdin=subprocess.DEVNULL, process_group=pgid)
                pgid = pgid or p.pid
                self.procs.append(p)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.procs:
            with contextlib.suppress(OSError):
                os.killpg(self.procs[0].pid, signal.SIGKILL)
        for p in self.procs:
            with contextlib.suppress(OSError):
                p.kill()
            p.wait()
        self.procs.clear()


def stop_process(p: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM, wait, then SIGKILL the process group."""
    if p.poll() is None:
        with contextlib.suppress(OSError):
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


def wait_until(pred: Callable[[], bool], timeout: float, interval: float = 0.01, what: str = "condition") -> float:
    """Poll ``pred``; returns the perf_counter time it became true. Raises TimeoutError."""
    deadline = time.perf_counter() + timeout
    while True:
        if pred():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what} not met within {timeout:.0f}s")
        time.sleep(interval)


def parse_only(ap: argparse.ArgumentParser, raw: str, allowed: set[str]) -> set[str]:
    """The sections named by ``--only``; an unknown name is a usage error."""
    only = {s.strip() for s in raw.split(",") if s.strip()}
    unknown = only - allowed
    if unknown:
        ap.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return only


def write_json(path: Path, out: dict[str, Any]) -> None:
    """Results as JSON, with NaN and infinity (a figure that could not be measured) written as null."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def clean(o: Any) -> Any:
        if isinstance(o, float) and (math.isnan(o) or math.isinf(o)):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        return o

    path.write_text(json.dumps(clean(out), indent=2) + "\n")
