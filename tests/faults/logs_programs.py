"""Programs and measurements for the log fault tests: numbered writers, directory sizes, sequences."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

PY = sys.executable


def numbered_writer(*, rate: float, lines: int | None = None, width: int = 1000, every: float = 0.0,
                    epipe_marker: Path | None = None) -> list[str]:
    """argv of a program writing lines ``'%09d ' + 'x' * width``, numbered from 0, at ``rate`` bytes/s.

    ``every`` > 0 writes one line per interval instead (a slow, steady writer). With
    ``epipe_marker``, a failed write records its error there and the program exits 7.
    """
    code = f"""
import os, sys, time
pad = b"x" * {width}
out = sys.stdout.buffer
limit = {lines!r}
rate = {rate!r}
every = {every!r}
marker = {str(epipe_marker) if epipe_marker else None!r}
i = 0
t0 = time.monotonic()
try:
    while limit is None or i < limit:
        if every:
            out.write(b"%09d " % i + pad + b"\\n"); out.flush(); i += 1; time.sleep(every); continue
        batch = b"".join(b"%09d " % n + pad + b"\\n" for n in range(i, i + 64 if limit is None else min(i + 64, limit)))
        out.write(batch); out.flush(); i += batch.count(b"\\n")
        ahead = i * ({width} + 11) / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
except OSError as e:
    if marker:
        open(marker, "w").write(repr(e))
    os._exit(7)
time.sleep(3600)
"""
    return [PY, "-c", code]


def log_files(log_dir: Path, program: str) -> list[Path]:
    """The program's files oldest first: .N ... .1, then the live one."""
    backups = sorted(log_dir.glob(f"{program}.log.*"), key=lambda p: -int(p.suffix[1:]))
    live = log_dir / f"{program}.log"
    return [*backups, *([live] if live.exists() else [])]


def numbers(path: Path) -> list[int]:
    """Line numbers in a file ([] if it is gone: it may be mid-rotation while the writer runs)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in data.split(b"\n")[:-1]:
        if line[:9].isdigit():
            out.append(int(line[:9]))
    return out


def dir_bytes(path: Path) -> int:
    total = 0
    for entry in os.scandir(path):
        try:
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            pass
    return total


class DirSampler:
    """Samples a directory's total file size in a thread, every few ms, while a test runs."""

    def __init__(self, path: Path, every: float = 0.005) -> None:
        self.path, self.every = path, every
        self.max = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DirSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.path.is_dir():
                self.max = max(self.max, dir_bytes(self.path))
                self.samples += 1
            time.sleep(self.every)
