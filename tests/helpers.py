"""Small waiting helpers for tests that watch real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The checkout's root: tests run commands from it and read its config/ and tests/data/."""


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def wait_until_true(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.05) -> None:
    """Like :func:`wait_for`, for a check that has to await (a scan, a query)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie.

    A process can vanish between the open and the read of its stat file, and
    the read then fails with ESRCH (ProcessLookupError), so every OSError means gone.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def unique_tag(prefix: str) -> str:
    """A command-line tag no other test run shares, so a process leaked by an aborted run is never counted."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


#: PF_KTHREAD in /proc/<pid>/stat's flags: kernel threads have no command line, and never will
_PF_KTHREAD = 0x00200000


def tagged_pids(tag: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains ``tag``.

    A program spawned a moment ago can show an empty command line: the kernel closes the exec
    error pipe (so Popen, and procbot's ``start``, have returned) before it sets the new argv's
    place in /proc/<pid>/cmdline. Such a process is read again until its argv is there, so a
    count taken right after a start is not short by one on a loaded machine.
    """
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and _cmdline_holds(int(pid), tag.encode()):
            found.append(int(pid))
    return found


def _cmdline_holds(pid: int, tag: bytes) -> bool:
    deadline = time.monotonic() + 1.0
    while True:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                data = f.read()
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return False
        if fields[0] == "Z":
            return False
        if data or int(fields[6]) & _PF_KTHREAD or time.monotonic() > deadline:
            return tag in data
        time.sleep(0.001)  # between exec's pipe and its argv: read again


def count_tagged(tag: str) -> int:
    """Live (non-zombie) processes whose command line contains ``tag``."""
    return len(tagged_pids(tag))


def kill_tagged(*tags: str) -> None:
    """Clean-up after a test that may leave programs behind (a killed daemon's children): SIGKILL them."""
    for tag in tags:
        for pid in tagged_pids(tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@contextmanager
def reserved_port() -> Iterator[int]:
    """A loopback port that refuses connections and that nobody else is handed while the block runs.

    The socket is bound but never listens: connecting gets ECONNREFUSED. With
    SO_REUSEADDR a fake server may still bind and listen on the same port
    inside the block (the port "comes back up").
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def assert_refused(path: Path, key: str, problem: str) -> None:
    """Loading ``path`` fails with a ConfigError naming the file, ``key`` and a problem containing ``problem``."""
    from bot.config_loader import load_config
    from core.errors import ConfigError

    try:
        load_config(path)
    except ConfigError as err:
        assert str(path) in str(err), str(err)
        assert err.key == key, (err.key, str(err))
        assert problem in err.problem, err.problem
    else:
        raise AssertionError(f"{path} was accepted; expected {key}: {problem}")
