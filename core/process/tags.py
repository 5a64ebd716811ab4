"""Fallback identity: an environment tag on every child, found again by a /proc scan.

Without a writable cgroup v2 a program's processes can only be told apart by
something they inherit. The environment is inherited through fork, setsid,
setpgid and double-forks, so every child gets ``PROCBOT_RUN=<home>:<program>:<nonce>``
(not a secret: it names a state dir hash, a program and a random run nonce).
A later procbot finds them again from ``/proc/<pid>/environ``, recorded or not.
A process that execs itself with a cleared environment escapes this mode; the
cgroup mode has no such gap.

procbot also becomes a child subreaper, so double-forked daemons reparent to
it instead of init; :func:`reap_orphans` reaps those when they exit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.process import procfs

log = logging.getLogger(__name__)

ENV_VAR = "PROCBOT_RUN"
_PREFIX = f"{ENV_VAR}=".encode()
PR_SET_CHILD_SUBREAPER = 36

#: program -> run nonce -> live pids carrying that tag
Found = dict[str, dict[str, list[int]]]


@dataclass(frozen=True)
class Tag:
    home: str      # hash of the state dir: two procbots never see each other's programs
    program: str
    nonce: str     # one per spawn: tells a run's processes from a later run's

    def value(self) -> str:
        return f"{self.home}:{self.program}:{self.nonce}"


def home_id(state_dir: Path) -> str:
    """A short id stable for one state dir (its real path), whatever happens to the files in it."""
    return hashlib.sha256(os.path.realpath(state_dir).encode()).hexdigest()[:12]


def new_nonce() -> str:
    return secrets.token_hex(6)


def parse(value: bytes | str) -> Tag | None:
    raw = value.decode(errors="replace") if isinstance(value, bytes) else value
    # the program's name may hold a ``:`` itself (an instance, ``web:2``); the home and the nonce never do
    home, _, rest = raw.partition(":")
    program, _, nonce = rest.rpartition(":")
    if not (home and program and nonce):
        return None
    return Tag(home, program, nonce)


def read_tag(pid: int) -> Tag | None:
    """The tag in a process's environment, or None (no tag, gone, or a zombie)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    for entry in data.split(b"\0"):
        if entry.startswith(_PREFIX):
            return parse(entry[len(_PREFIX):])
    return None


def scan(home: str) -> Found:
    """Every live tagged process of this procbot, in one walk of /proc (call it from a thread)."""
    me = os.getpid()
    out: Found = {}
    for pid in procfs.all_pids():
        if pid == me:
            continue
        tag = read_tag(pid)
        if tag is None or tag.home != home:
            continue
        st = procfs.read_stat(pid)
        if st is None or st.state == "Z":
            continue
        out.setdefault(tag.program, {}).setdefault(tag.nonce, []).append(pid)
    return out


def set_child_subreaper(on: bool) -> bool:
    """Make orphaned descendants reparent to this process (Linux 3.4+); False if refused."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
            log.warning("PR_SET_CHILD_SUBREAPER failed: %s", os.strerror(ctypes.get_errno()))
            return False
    except OSError as e:
        log.warning("PR_SET_CHILD_SUBREAPER unavailable: %s", e)
        return False
    return True


def children_of_self() -> list[int]:
    """Direct children of this process (every thread's), from /proc: no host-wide walk."""
    out: list[int] = []
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                out.extend(int(p) for p in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def reap_orphans(is_ours: Callable[[int], bool]) -> list[int]:
    """Reap zombie children that procbot did not spawn itself (daemons reparented to the subreaper).

    Children procbot spawned (``is_ours``) are reaped by their own exit watcher,
    and children in procbot's own session (a test's or a tool's subprocess) are
    left to whoever started them.
    """
    own_sid = os.getsid(0)
    reaped = []
    for pid in children_of_self():
        if is_ours(pid):
            continue
        st = procfs.read_stat(pid)
        if st is None or st.state != "Z" or st.sid == own_sid:
            continue
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                reaped.append(pid)
        except ChildProcessError:
            continue
    return reaped
