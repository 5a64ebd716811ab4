"""Making sure every process of a program is gone: its process group and whatever left it.

A program's run is its process group (it leads its own session) plus the processes that left the
group (setsid, setpgid, double-forked daemons), which the program's identity (its cgroup, or its
environment tag) still finds. A stop or a crash sends the stop signal to all of them, gives them the
stop timeout, then SIGKILL. The runner decides when; this module does it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from core.clock import Clock
from core.process import procfs
from core.process.identity import Identity

log = logging.getLogger(__name__)

GROUP_SWEEP_POLL = 0.05


class Sweeper:
    """Signals and waits for one program's processes."""

    def __init__(self, identity: Identity, name: str, stop_signal: str, stop_timeout: float, clock: Clock) -> None:
        self.identity = identity
        self.name = name
        self.stop_signal = signal.Signals[stop_signal]
        self.stop_timeout = stop_timeout
        self.clock = clock

    async def signal_members(self, sig: int, nonce: str | None = None, skip_pgid: int | None = None) -> None:
        try:
            await self.identity.signal(self.name, sig, nonce, skip_pgid)
        except OSError as e:  # EMFILE, a vanished cgroup: the group signal went out anyway
            log.warning("could not signal all processes of %s: %s", self.name, e)

    async def kill_members(self, nonce: str | None = None) -> None:
        try:
            await self.identity.kill(self.name, nonce)
        except OSError as e:
            log.warning("could not kill all processes of %s: %s", self.name, e)

    async def sweep_all(self, pgid: int, timeout: float, nonce: str | None = None) -> None:
        """What is left of the program after its leader died gets the rest of the timeout, then SIGKILL.

        Waiting is event-driven in cgroup mode (cgroup.events through inotify). A process that
        survives SIGKILL (stuck in uninterruptible sleep) is reported and left, so a stop always ends.
        """
        if await self.gone(pgid, timeout, nonce):
            return
        killpg(pgid, signal.SIGKILL)
        await self.kill_members(nonce)
        if not await self.gone(pgid, 5.0, nonce):
            log.error("processes of %s survive SIGKILL; leaving them", self.name)

    async def gone(self, pgid: int, timeout: float, nonce: str | None) -> bool:
        """True once neither the process group nor the program's cgroup/tagged processes are left."""
        deadline = self.clock.monotonic() + timeout
        try:
            if not await self.identity.wait_gone(self.name, timeout, nonce):
                return False
        except OSError as e:
            log.warning("cannot tell whether %s's processes are gone: %s", self.name, e)
        if self.identity.exact:
            return True  # the group is inside the cgroup
        while group_signalable(pgid) and await asyncio.to_thread(group_alive, pgid):
            if self.clock.monotonic() >= deadline:
                return False
            await asyncio.sleep(GROUP_SWEEP_POLL)
        return True

    def signal_leftovers(self, pgid: int) -> tuple[bool, list[int] | None]:
        """After the leader's exit: the stop signal to its group and to the members that left it.

        Returns (anything was left, the members found, or None when they cannot be listed now).
        """
        try:
            members = self.identity.members_now(self.name)
        except OSError as e:
            log.warning("cannot list what %s left behind: %s", self.name, e)
            members = None
        left = group_signalable(pgid) or bool(members)
        if left:
            log.warning("%s exited leaving processes behind; stopping them", self.name)
            killpg(pgid, self.stop_signal)
            for pid in members or []:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    if os.getpgid(pid) != pgid:
                        os.kill(pid, self.stop_signal)
        return left, members

    async def sweep_members(self, nonce: str | None = None) -> None:
        """Stop every process of the program (or of one run): stop signal, timeout, SIGKILL."""
        if not await self.identity.members(self.name, nonce):
            return
        await self.signal_members(self.stop_signal, nonce)
        if not await self.identity.wait_gone(self.name, self.stop_timeout, nonce):
            await self.kill_members(nonce)
            if not await self.identity.wait_gone(self.name, 5.0, nonce):
                log.error("processes of %s survive SIGKILL; leaving them", self.name)

    async def sweep_run(self, nonce: str) -> None:
        """Tag mode: the old run's escapees (double-forked daemons, setsid children), by nonce."""
        try:
            await self.sweep_members(nonce)
        except OSError as e:
            log.warning("could not sweep what %s left behind: %s", self.name, e)


def killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_signalable(pgid: int) -> bool:
    """Cheap first check: does any process (zombies included) still have this group id?"""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Does the group have a live member? Walks /proc: call it from a thread."""
    if not group_signalable(pgid):
        return False
    # zombies still count for killpg; a group of only zombies is done
    return any(
        (s := procfs.read_stat(pid)) is not None and s.pgid == pgid and s.state != "Z"
        for pid in _group_candidates(pgid)
    )


def _group_candidates(pgid: int) -> list[int]:
    return [p for p in procfs.all_pids() if (s := procfs.read_stat(p)) is not None and s.pgid == pgid]
