"""Start-up: what is alive (from the kernel) against what was recorded (the open run rows).

Rules, per configured program:

- the newest recorded run whose (pid, start ticks) is alive is adopted;
- else a live copy found by cgroup or tag with no row (procbot died between the
  spawn and the write, or the registry was lost) is adopted: its leader is the
  member whose parent is not a member (the oldest, if several), and it gets a row;
- every other copy (another run nonce) is a duplicate: stopped, with an event;
- a recorded run that is not alive ended while procbot was down: a crash event, and
  autostart starts it again.

A process of a program that is no longer configured is stopped with an event (an
alert), or left alone with ``[procbot] orphans = "leave"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import RegistryError
from core.process import procfs
from core.process.events import EventKind, ProgramEvent
from core.process.tags import Found, new_nonce
from core.store.registry import RunRow

if TYPE_CHECKING:
    from core.process.supervisor import Supervisor

log = logging.getLogger(__name__)

ORPHAN_STOP_TIMEOUT = 10.0
POLL = 0.05


@dataclass(frozen=True)
class _Choice:
    nonce: str
    pid: int
    ticks: int
    started_at: float
    recorded: bool


class Reconciler:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.now = sup.clock.time()

    async def run(self) -> set[str]:
        """Adopt what should be adopted; returns the programs now running (not to be autostarted)."""
        sup = self.sup
        try:
            runs = await sup.registry.open_runs()
        except RegistryError as e:  # the kernel still knows: adoption goes on without history
            log.error("cannot read open runs (adopting from the live processes only): %s", e)
            runs = []
        try:
            found = await sup.identity.discover()
        except OSError as e:
            log.error("cannot look for live processes of programs: %s", e)
            found = {}
        recorded: dict[str, list[RunRow]] = {}
        for r in runs:
            recorded.setdefault(r.program, []).append(r)
        btime = procfs.boot_time()
        adopted: set[str] = set()
        for name, runner in sup.runners.items():
            copies = found.pop(name, {})
            rows = recorded.pop(name, [])
            choice = _choose(copies, rows, btime)
            kept: set[int] = set()
            if choice is not None and runner.adopt(choice.nonce, choice.pid, choice.ticks, choice.started_at,
                                                   recorded=choice.recorded):
                adopted.add(name)
                kept = set(copies.get(choice.nonce, [])) | {choice.pid}
                if not choice.recorded:
                    log.warning("%s pid %d was alive with no run recorded: adopted it", name, choice.pid)
                else:
                    log.info("adopted %s pid=%d", name, choice.pid)
            else:
                choice = None
            for nonce, pids in copies.items():
                if choice is not None and (nonce == choice.nonce or nonce == ""):
                    continue  # "": untagged members of the kept copy's cgroup (a child that cleared its env)
                dup = [p for p in pids if p not in kept]
                if dup:
                    self._stop_duplicate(name, dup)
            for r in rows:
                if choice is not None and r.nonce == choice.nonce:
                    continue
                alive = procfs.is_alive(r.pid, r.start_ticks)
                if alive and r.pid not in kept and not _found(copies, r.pid):
                    self._stop_duplicate(name, [r.pid])
                reason = "duplicate" if alive else "lost while procbot was down"
                sup.run_log.ended(r.nonce or None, self.now, None, None, reason)
                if not alive and choice is None:
                    sup.bus.publish(ProgramEvent(
                        EventKind.CRASHED, name, self.now, pid=r.pid, runtime=None, group=runner.spec.group,
                        message="died while procbot was down (exit status unknown)",
                        next_action="starting it again" if runner.spec.autostart
                        else "not restarting: autostart is off",
                    ))
        self._orphans(found, recorded)
        return adopted

    # -- duplicates and orphans -----------------------------------------
    def _stop_duplicate(self, name: str, pids: list[int]) -> None:
        log.warning("%s: stopping a duplicate copy (pids %s)", name, pids)
        self.sup.bus.publish(ProgramEvent(
            EventKind.STOPPED, name, self.now, by="procbot (duplicate)", pid=pids[0],
            message=f"stopped a duplicate copy of {name} (pids {', '.join(map(str, pids))})"))
        runner = self.sup.runners[name]
        sig = signal.Signals[runner.spec.stop_signal]
        self.sup.own(asyncio.ensure_future(_stop_pids(pids, sig, runner.spec.stop_timeout)))

    def _orphans(self, found: Found, recorded: dict[str, list[RunRow]]) -> None:
        sup = self.sup
        leave = sup.config.procbot.orphans == "leave"
        names = set(found) | set(recorded)
        for name in sorted(names):
            pids = {p for ps in found.get(name, {}).values() for p in ps}
            for r in recorded.get(name, []):
                if procfs.is_alive(r.pid, r.start_ticks):
                    pids.add(r.pid)
                sup.run_log.ended(r.nonce or None, self.now, None, None,
                                  "unconfigured (left running)" if leave and r.pid in pids else "unconfigured")
            if not pids:
                sup.identity.release(name)
                continue
            shown = ", ".join(map(str, sorted(pids)))
            if leave:
                log.warning("%s is no longer configured but alive (pids %s); leaving it (orphans = leave)",
                            name, shown)
                continue
            log.warning("%s is no longer configured but alive (pids %s); stopping it", name, shown)
            sup.bus.publish(ProgramEvent(
                EventKind.ORPHAN_STOPPED, name, self.now, pid=min(pids),
                message=f"was running although no longer configured (pids {shown}); procbot stopped it",
                next_action='not restarting: not in the config (set orphans = "leave" to keep such processes)'))
            sup.own(asyncio.ensure_future(self._stop_orphan(name, sorted(pids))))

    async def _stop_orphan(self, name: str, pids: list[int]) -> None:
        await _stop_pids(pids, signal.SIGTERM, ORPHAN_STOP_TIMEOUT, groups=True)
        with contextlib.suppress(OSError):
            await self.sup.identity.kill(name)  # cgroup mode: anything forked meanwhile
        self.sup.identity.release(name)


def _found(copies: dict[str, list[int]], pid: int) -> bool:
    return any(pid in pids for pids in copies.values())


def _choose(copies: dict[str, list[int]], rows: list[RunRow], btime: float) -> _Choice | None:
    for r in reversed(rows):  # newest first
        if procfs.is_alive(r.pid, r.start_ticks):
            nonce = next((n for n, pids in copies.items() if r.pid in pids and n), r.nonce or new_nonce())
            return _Choice(nonce, r.pid, r.start_ticks, r.started_at, recorded=True)
    best: _Choice | None = None
    for nonce, pids in copies.items():
        leader = _leader(pids)
        if leader is None:
            continue
        c = _Choice(nonce or new_nonce(), leader.pid, leader.start_ticks,
                    procfs.ticks_to_epoch(leader.start_ticks, btime), recorded=False)
        if best is None or c.ticks < best.ticks:
            best = c
    return best


def _leader(pids: Iterable[int]) -> procfs.Stat | None:
    """The member whose parent is not a member (the oldest such, if several)."""
    stats = [s for p in pids if (s := procfs.read_stat(p)) is not None and s.state != "Z"]
    members = {s.pid for s in stats}
    roots = [s for s in stats if s.ppid not in members]
    return min(roots, key=lambda s: s.start_ticks) if roots else None


async def _stop_pids(pids: list[int], sig: int, timeout: float, groups: bool = False) -> None:
    """Signal, wait up to ``timeout`` (polling the few pids), then SIGKILL what is left."""
    ticks = {p: procfs.start_ticks(p) for p in pids}

    def alive() -> list[int]:
        return [p for p in pids if ticks[p] is not None and procfs.is_alive(p, ticks[p] or 0)]

    for s in (sig, signal.SIGKILL):
        for p in alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if groups and os.getpgid(p) == p:
                    os.killpg(p, s)
                os.kill(p, s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if s == sig else 5.0)
        while alive() and loop.time() < deadline:  # noqa: ASYNC110 - foreign pids: no event to wait on
            await asyncio.sleep(POLL)
        if not alive():
            return
    log.error("processes %s survive SIGKILL; leaving them", alive())
