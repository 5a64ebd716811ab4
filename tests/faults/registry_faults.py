"""Real file-system faults for the registry tests: a small tmpfs that fills up, immutable files.

We are root in the test environment, so permission bits do not stop writes:
a full tmpfs (ENOSPC) and ``chattr +i`` (EPERM) are the faults that bite.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REGISTRY_FILES = ("procbot.db", "procbot.db-wal", "procbot.db-shm")


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "8m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` for the block; always unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        for name in REGISTRY_FILES:
            subprocess.run(["chattr", "-i", str(path / name)], capture_output=True)
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path, name: str = "filler") -> Path:
    """Write zeros into ``directory/name`` until the file system is full; returns the file to remove."""
    target = directory / name
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 4096, 512):  # smaller and smaller chunks: the last bytes too
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return target


def chattr(flag: str, state_dir: Path) -> None:
    for name in REGISTRY_FILES:
        p = state_dir / name
        if p.exists():
            subprocess.run(["chattr", flag, str(p)], check=True)


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read procbot's registry without ever creating it (a missing file stays missing)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        return conn.execute(sql, params).fetchall()


def poll(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Call ``check`` until it returns something truthy; the last value, or an AssertionError."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, sqlite3.Error, OSError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def inode(path: Path) -> int:
    return os.stat(path).st_ino


def programs_toml(tags: dict[str, str], extra: str = "min_uptime = 0\n") -> str:
    """``[[program]]`` tables: one long-running sleeper per name, its command line carrying the tag."""
    from tests.conftest import sleeper

    return "".join(
        f'[[program]]\nname = "{name}"\ncommand = {json.dumps(sleeper(tag))}\n{extra}' for name, tag in tags.items()
    )
