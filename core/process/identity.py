"""Where a program's processes are, whatever they did: one interface, two modes.

``cgroup`` (default where a writable cgroup v2 exists): each program is a
cgroup (see core/process/cgroups.py). ``tags`` (fallback, or ``cgroup = "off"``): each
child carries an environment tag and procbot is a child subreaper (see
core/process/tags.py). Both also tag the environment, so a copy of a program
(one spawn) is told from another by its run nonce.

The runner asks "who belongs to this program?" and "tell me when they are
gone"; the supervisor asks "what is alive?" at start-up. Neither needs the
registry row for that: the row is history, the kernel is identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.process import tags as process_tags
from core.process.cgroups import CgroupTree, EmptyWatch, locate
from core.process.tags import Found, Tag

log = logging.getLogger(__name__)

TAG_POLL = 0.05
PLACEMENT_FILE = "placement"


@dataclass
class SpawnHook:
    """What a spawn needs from the identity: extra environment, a pre-exec step, fds to close after."""

    env: dict[str, str]
    fds: list[int] = field(default_factory=list)
    #: called with the child's pid right after the spawn, before anything else runs on the loop
    placed: Callable[[int], None] | None = None

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()


class Identity:
    """Base: the environment tag, shared by both modes."""

    mode = "tags"
    #: True when a crash's leftovers can be found cheaply before the respawn (cgroup mode)
    exact = False

    def __init__(self, home: str) -> None:
        self.home = home

    def start(self, is_ours: Callable[[], set[int]]) -> None:
        """Begin (the loop is running); ``is_ours`` returns the pids of procbot's own current leaders."""

    async def close(self) -> None:
        """Stop background work; programs keep running."""

    def hook(self, program: str, nonce: str) -> SpawnHook:
        return SpawnHook({process_tags.ENV_VAR: Tag(self.home, program, nonce).value()})

    async def members(self, program: str, nonce: str | None = None) -> list[int]:
        raise NotImplementedError

    def members_now(self, program: str) -> list[int] | None:
        """Members without waiting, where that is cheap (cgroup mode); None otherwise."""
        return None

    async def signal(self, program: str, sig: int, nonce: str | None = None, skip_pgid: int | None = None) -> int:
        """Signal every member; ``skip_pgid``: members of that group were signalled by killpg already
        (a second SIGINT would interrupt a program's own clean exit)."""
        pids = await self.members(program, nonce)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if skip_pgid is not None and os.getpgid(pid) == skip_pgid:
                    continue
                os.kill(pid, sig)
        return len(pids)

    async def kill(self, program: str, nonce: str | None = None) -> None:
        await self.signal(program, signal.SIGKILL, nonce)

    async def wait_gone(self, program: str, timeout: float, nonce: str | None = None) -> bool:
        raise NotImplementedError

    async def discover(self) -> Found:
        """Every live process of this procbot's programs (configured or not), by program and run."""
        raise NotImplementedError

    def release(self, program: str) -> None:
        """The program is stopped or removed: drop what was kept for it (its empty cgroup)."""

    def limit_memory(self, program: str, limit: int | None) -> None:
        """Before a spawn: the kernel's memory limit for the program (cgroup mode; elsewhere nothing)."""

    def oom_kills_since_spawn(self, program: str) -> int | None:
        """The kernel's OOM kills in the program since its last spawn, where it counts them (else None)."""
        return None


class CgroupIdentity(Identity):
    mode = "cgroup"
    exact = True

    def __init__(self, home: str, tree: CgroupTree, placement: Placement) -> None:
        super().__init__(home)
        self.tree = tree
        self.placement = placement
        self._empty = EmptyWatch(tree)
        self._to_place: list[tuple[int, int]] = []  # (cgroup.procs fd, pid)
        self._placer: asyncio.Task[None] | None = None
        #: the memory controller: None = not tried yet (no program asked for max_memory), else on or not
        self._memory: bool | None = None
        self._oom_base: dict[str, int] = {}  # program -> its cgroup's oom_kill count at the last spawn

    def hook(self, program: str, nonce: str) -> SpawnHook:
        h = super().hook(program, nonce)
        fd = self.tree.open_procs(program)
        h.fds.append(fd)  # closed with the hook if the spawn fails
        recorded = self.placement.pending()  # before the spawn: a procbot killed before the move leaves it

        def placed(pid: int) -> None:
            h.fds.remove(fd)
            if not recorded:  # no record that a child may be outside its cgroup: no gap allowed, move it now
                _place_all([(fd, pid)])
                return
            self._to_place.append((fd, pid))  # the placer owns the fd now
            if self._placer is None or self._placer.done():
                self._placer = asyncio.ensure_future(self._place_queued())

        h.placed = placed
        return h

    async def _place_queued(self) -> None:
        """Moves spawned children into their cgroups, in batches, off the loop.

        A move into a cgroup waits for an RCU grace period (5-20 ms here) unless another move
        just happened, so spawns never wait for it: kill -9 to replacement stays at ~3 ms, and a
        cold start's thousand moves share one grace period. Until a child is moved it is found by
        its environment tag (``discover`` reads both), so a procbot killed in between loses nothing.
        """
        failed = 0
        while self._to_place:
            batch, self._to_place = self._to_place, []
            failed += await asyncio.to_thread(_place_all, batch)
        if not failed:  # every child is in its cgroup; one left outside keeps the record for the next start-up
            self.placement.clean()

    def members_now(self, program: str) -> list[int]:
        return self.tree.procs(program)

    def limit_memory(self, program: str, limit: int | None) -> None:
        """Write the program's memory.max (its cgroup exists: the hook made it) and note its OOM count.

        The controller is turned on the first time a program has a limit; until then this costs
        nothing. Once on, every spawn writes its limit ("max" for none: a reload may have dropped
        one) and reads ``memory.events``, two small kernfs calls.
        """
        if self._memory is None:
            if limit is None:
                return
            problem = self.tree.enable_memory()
            self._memory = problem is None
            if problem is not None:
                log.warning("max_memory: memory.max is not set (%s); procbot keeps the limits by sampling", problem)
        if not self._memory:
            return
        try:
            self.tree.set_memory_max(program, limit)
        except OSError as e:
            log.warning("could not set memory.max of %s: %s", program, e)
        kills = self.tree.oom_kills(program)
        if kills is not None:
            self._oom_base[program] = kills

    def oom_kills_since_spawn(self, program: str) -> int | None:
        """Read when a run ends, before anything respawns it (the spawn takes a new baseline)."""
        base = self._oom_base.get(program)
        now = self.tree.oom_kills(program) if base is not None else None
        if base is None or now is None:
            return None
        self._oom_base[program] = now  # told once
        return max(0, now - base)

    async def members(self, program: str, nonce: str | None = None) -> list[int]:
        pids = self.tree.procs(program)
        if nonce is None:
            return pids
        return [p for p in pids if (t := process_tags.read_tag(p)) is None or t.nonce == nonce]

    async def kill(self, program: str, nonce: str | None = None) -> None:
        if nonce is None:
            self.tree.kill(program)
        else:
            await super().kill(program, nonce)

    async def wait_gone(self, program: str, timeout: float, nonce: str | None = None) -> bool:
        return await self._empty.wait_empty(program, timeout)

    async def discover(self) -> Found:
        return await asyncio.to_thread(self._discover)

    def _discover(self) -> Found:
        """Each program's cgroup, plus tagged processes outside it (spawned, then procbot died before
        the move; or spawned in tags mode): those are moved in now, so stop and the next start-up find
        them in the cgroup.

        Finding those means reading the environment of every process on the host (~0.1 ms each: a
        fifth of a second on a busy host), so it is done only when they can exist: the placement
        record is not "clean", or it is missing from a state dir whose cgroup subtree already existed.
        """
        out: Found = {}
        inside: set[int] = set()
        for program in self.tree.programs():
            for pid in self.tree.procs(program):
                inside.add(pid)
                tag = process_tags.read_tag(pid)
                nonce = tag.nonce if tag is not None and tag.home == self.home else ""
                out.setdefault(program, {}).setdefault(nonce, []).append(pid)
        if not self.placement.may_have_outsiders(subtree_is_new=self.tree.new):
            return out
        moved_all = True
        for program, runs in process_tags.scan(self.home).items():
            for nonce, pids in runs.items():
                outside = [p for p in pids if p not in inside]
                if not outside:
                    continue
                try:
                    fd = self.tree.open_procs(program)
                    try:
                        for p in outside:
                            _place(fd, p)
                    finally:
                        os.close(fd)
                except OSError as e:
                    moved_all = False
                    log.warning("could not move %s's processes %s into its cgroup: %s", program, outside, e)
                out.setdefault(program, {}).setdefault(nonce, []).extend(outside)
        if moved_all:
            self.placement.clean()
        return out

    def release(self, program: str) -> None:
        try:
            self.tree.remove(program)
        except OSError as e:
            log.warning("could not remove the cgroup of %s: %s", program, e)

    async def close(self) -> None:
        if self._placer is not None:
            await asyncio.gather(self._placer, return_exceptions=True)
        self._empty.close()
        self.tree.remove_base()  # only if empty: programs left running keep their cgroups


def _place_all(batch: list[tuple[int, int]]) -> int:
    """Place each (fd, pid); each fd is closed after. Returns how many could not be placed."""
    failed = 0
    for fd, pid in batch:
        try:
            _place(fd, pid)
        except OSError as e:  # it runs, tagged; only its cgroup is missing
            failed += 1
            log.error("could not put pid %d in its cgroup: %s", pid, e)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
    return failed


def _place(procs_fd: int, pid: int) -> None:
    """Move a just-spawned child (and anything it forked meanwhile) into its program's cgroup.

    Python 3.11's subprocess has no CLONE_INTO_CGROUP, and a preexec_fn that writes "0" to
    cgroup.procs (the child moving itself) costs the spawn a fork() instead of vfork() and the
    move's RCU grace period: 15-22 ms from kill -9 to replacement, against ~3 ms. So procbot moves
    the child just after the spawn, off the loop. Whatever it forked in that gap is a child of it
    still outside the cgroup: found through /proc/<pid>/task/*/children and moved too, until none
    is left (a fork racing a move lands on one side or the other, never lost). Both stay tagged.
    """
    todo, seen = [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            os.write(procs_fd, str(p).encode())
        except ProcessLookupError:
            continue  # already gone: nothing of it to place
        todo.extend(_children(p))


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return out


class TagIdentity(Identity):
    """Fallback: the environment tag, a coalesced /proc scan, and a subreaper for double-forks."""

    mode = "tags"

    def __init__(self, home: str, placement: Placement | None = None) -> None:
        super().__init__(home)
        self.placement = placement
        self._scans = _Coalesced(lambda: process_tags.scan(home))
        self._subreaper = False
        self._reap_task: asyncio.Task[None] | None = None
        self._reap_wanted: asyncio.Event | None = None  # made on the loop in start()
        self._is_ours: Callable[[], set[int]] = set

    def start(self, is_ours: Callable[[], set[int]]) -> None:
        self._is_ours = is_ours
        self._subreaper = process_tags.set_child_subreaper(True)
        if not self._subreaper:
            return
        self._reap_wanted = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGCHLD, self._reap_wanted.set)
        self._reap_task = asyncio.create_task(self._reaper(), name="orphan-reaper")

    async def _reaper(self) -> None:
        assert self._reap_wanted is not None
        while True:
            await self._reap_wanted.wait()
            self._reap_wanted.clear()
            ours = self._is_ours()
            try:
                await asyncio.to_thread(process_tags.reap_orphans, ours.__contains__)
            except OSError as e:
                log.warning("reaping orphans failed: %s", e)

    async def close(self) -> None:
        if self._reap_task is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGCHLD)
            self._reap_task.cancel()
            await asyncio.gather(self._reap_task, return_exceptions=True)
            self._reap_task = None
            await asyncio.to_thread(process_tags.reap_orphans, self._is_ours().__contains__)
        if self._subreaper:
            process_tags.set_child_subreaper(False)
            self._subreaper = False
        await self._scans.close()

    async def members(self, program: str, nonce: str | None = None) -> list[int]:
        runs = (await self._scans.fresh()).get(program, {})
        if nonce is not None:
            return list(runs.get(nonce, []))
        return [p for pids in runs.values() for p in pids]

    async def wait_gone(self, program: str, timeout: float, nonce: str | None = None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self.members(program, nonce):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(TAG_POLL)
        return True

    def hook(self, program: str, nonce: str) -> SpawnHook:
        if self.placement is not None:  # its processes live outside any cgroup: a cgroup-mode successor must look
            self.placement.pending()
        return super().hook(program, nonce)

    async def discover(self) -> Found:
        return await self._scans.fresh()


class _Coalesced:
    """Callers share passes of a thread job; each gets a pass that began after it asked.

    ``stop all`` on a thousand programs then costs a few walks of /proc, not a thousand.
    """

    def __init__(self, job: Callable[[], Found]) -> None:
        self._job = job
        self._want: asyncio.Future[Found] | None = None
        self._task: asyncio.Task[None] | None = None

    async def fresh(self) -> Found:
        if self._want is None:
            self._want = asyncio.get_running_loop().create_future()
        fut = self._want
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        return await asyncio.shield(fut)

    async def _run(self) -> None:
        while self._want is not None:
            fut, self._want = self._want, None
            try:
                res = await asyncio.to_thread(self._job)
            except Exception as e:  # noqa: BLE001 - handed to every waiter
                if not fut.done():
                    fut.set_exception(e)
            else:
                if not fut.done():
                    fut.set_result(res)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._want is not None and not self._want.done():
            self._want.cancel()
        self._want = None


def make_identity(state_dir: Path, setting: str) -> Identity:
    """cgroup mode where a writable cgroup v2 is found (unless ``cgroup = "off"``), else tags."""
    home = process_tags.home_id(state_dir)
    placement = Placement(state_dir / PLACEMENT_FILE)
    if setting != "off":
        tree = locate(home)
        if tree is not None:
            return CgroupIdentity(home, tree, placement)
    return TagIdentity(home, placement)


class Placement:
    """A one-word file in the state dir: may a process of this home be outside its cgroup?

    ``pending`` is written before a spawn whose child is moved into its cgroup later, and in tags
    mode (no cgroups at all); ``clean`` once every child is in its cgroup. It is written without
    fsync: a procbot killed with -9 loses nothing the kernel has, and a machine crash takes the
    children with it. A missing or unreadable file counts as pending, except in a state dir whose
    cgroup subtree this procbot made itself (no procbot of this home ran in cgroup mode since boot).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._state: str | None = None  # what this procbot last wrote

    def may_have_outsiders(self, subtree_is_new: bool) -> bool:
        try:
            with open(self.path, "rb") as f:
                return f.read().strip() != b"clean"
        except FileNotFoundError:
            return not subtree_is_new
        except OSError:
            return True

    def pending(self) -> bool:
        """Record that a child may be outside its cgroup; False if that could not be written."""
        return self._state == "pending" or self._write("pending")

    def clean(self) -> None:
        if self._state != "clean":
            self._write("clean")

    def _write(self, word: str) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, word.encode() + b"\n")
            finally:
                os.close(fd)
        except OSError as e:
            self._state = None
            log.warning("cannot write %s (%s): children are moved into their cgroups before the spawn returns",
                        self.path, e)
            return False
        self._state = word
        return True
