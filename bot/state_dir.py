"""procbot's state directory: created private, never re-moded, refused when others could write it.

A directory that exists already may be shared on purpose (``/var/lib/x``
used by other tools), so procbot never changes its mode; but the registry,
the lock and the control socket live there, and a directory others can
write lets them replace any of those. So: new -> 0700; existing and group-
or world-writable -> refuse, naming the directory and the fix.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.errors import ConfigError

KEY = "procbot.state_dir"


def state_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be procbot's state directory as it stands, or None (also when it does not exist yet)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"{path} cannot be read: {e.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} exists and is not a directory"
    mode = stat.S_IMODE(st.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "group- and world-" if mode & stat.S_IWGRP and mode & stat.S_IWOTH else (
            "group-" if mode & stat.S_IWGRP else "world-")
        return (f"{path} is {who}writable (mode {mode:04o}): others could replace procbot's registry, lock or "
                f"control socket. procbot does not change the mode of an existing directory: "
                f"use a private directory, or `chmod go-w {path}`")
    return None


def ensure_state_dir(path: Path, config_file: str) -> None:
    """Create ``path`` 0700 if it is new; leave an existing one's mode alone; refuse an unsafe one."""
    problem = state_dir_problem(path)
    if problem:
        raise ConfigError(config_file, KEY, problem)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return
    except OSError as e:
        raise ConfigError(config_file, KEY, f"cannot create {path}: {e.strerror}") from None
    os.chmod(path, 0o700)  # ours, just made: the umask must not widen or narrow it


def socket_path(state_dir: Path) -> Path:
    """The control socket: in the state directory, so its 0700 mode guards it."""
    return state_dir / "procbot.sock"
