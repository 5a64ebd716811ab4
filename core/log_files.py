"""Per-program log files: children write to them directly, procbot rotates them.

Children get a file descriptor opened with O_APPEND, not a pipe through
procbot, so they keep logging when procbot dies. Rotation is therefore
copy-then-truncate (like logrotate's copytruncate): with O_APPEND the
child's next write lands at the new end of the emptied file.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from pathlib import Path


def log_path(log_dir: Path, program: str) -> Path:
    return log_dir / f"{program}.log"


def open_for_child(path: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o640)
    except FileNotFoundError:  # the log folder is made once, on first use
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o640)


def rotate_if_needed(path: Path, max_bytes: int, backups: int) -> bool:
    """Rotate ``path`` when larger than ``max_bytes``; returns True if it rotated."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size <= max_bytes:
        return False
    if backups == 0:
        os.truncate(path, 0)
        return True
    for i in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{i}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{i + 1}"))
    shutil.copyfile(path, path.with_name(f"{path.name}.1"))
    os.truncate(path, 0)
    return True


def tail(path: Path, lines: int, max_bytes: int = 256 * 1024) -> list[str]:
    """The last ``lines`` lines, reading at most ``max_bytes`` from the end."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return []
    text = data.decode(errors="replace")
    out: deque[str] = deque(text.splitlines(), maxlen=lines)
    return list(out)
