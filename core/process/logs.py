"""Where program logs live, and reading their tails.

The log daemon (core.logd) writes and rotates the files; this module only
names them and reads them back for ``logs`` and crash alerts. Direct
O_APPEND files for children remain as the fallback when the daemon cannot
run (then nothing rotates them).
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path


def log_path(log_dir: Path, program: str) -> Path:
    return log_dir / f"{program}.log"


def err_log_path(log_dir: Path, program: str) -> Path:
    """stderr's own file, for programs with ``log.stderr_file = true``."""
    return log_dir / f"{program}.err.log"


def open_for_child(path: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        return os.open(path, flags, 0o640)
    except FileNotFoundError:  # the log folder is made once, on first use
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o640)


def tail(path: Path, lines: int, max_bytes: int = 256 * 1024) -> list[str]:
    """The last ``lines`` lines, reading at most ``max_bytes`` from the end of each file.

    Just after a rotation the live file holds few lines: the rest come from
    ``<path>.1``, so a crash alert right after a rotation still has its context.
    """
    return tail_with_end(path, lines, max_bytes).lines


@dataclass(frozen=True)
class Tail:
    lines: list[str]
    #: where the live file's tail ended (bytes) and which file it was: ``logs -f`` follows on from
    #: exactly there, so a line written between the tail and the follow is neither lost nor doubled
    end: int = 0
    inode: int = 0


def tail_with_end(path: Path, lines: int, max_bytes: int = 256 * 1024) -> Tail:
    live, end, inode = _tail_of(path, max_bytes)
    out: deque[str] = deque(live, maxlen=lines)
    if len(out) < lines:
        older = _tail_of(path.with_name(path.name + ".1"), max_bytes)[0]
        out.extendleft(reversed(older[-(lines - len(out)):] if older else []))
    return Tail(list(out), end, inode)


def _tail_of(path: Path, max_bytes: int) -> tuple[list[str], int, int]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, OSError):
        return [], 0, 0
    with open(fd, "rb") as f:
        inode = os.fstat(f.fileno()).st_ino
        f.seek(0, os.SEEK_END)
        size = f.tell()
        start = max(0, size - max_bytes)
        f.seek(start)
        data = f.read(size - start)
    if start > 0:  # the first line read is a piece of a longer one
        data = data[data.find(b"\n") + 1:]
    return data.decode(errors="replace").splitlines(), size, inode
