"""cgroup v2 identity: each program is its own cgroup, so no process of it can be lost.

Layout: ``<procbot's own cgroup>/procbot-<home id>/<program>``. Under systemd
with ``Delegate=yes`` procbot's own cgroup is the delegated service cgroup; as
root outside systemd it is wherever procbot was started. The home id is a
hash of the state dir's real path, so two procbots never share a subtree and
a deleted registry loses nothing: membership lives in the kernel.

Nothing a program does (fork, setsid, setpgid, double-fork, a cleared
environment) takes a process out of its cgroup, so ``cgroup.procs`` finds it at
start-up, ``cgroup.kill`` ends all of it, and ``cgroup.events`` says when it is
empty (watched with inotify: one fd for all programs).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import struct
from pathlib import Path

log = logging.getLogger(__name__)

IN_MODIFY = 0x00000002
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")


def cgroup2_mount(mounts: str) -> Path | None:
    """The cgroup2 mount point from /proc/self/mounts text (the first one)."""
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "cgroup2":
            return Path(parts[1])
    return None


def own_cgroup(cgroup_text: str) -> str | None:
    """This process's cgroup v2 path (the ``0::`` line of /proc/self/cgroup)."""
    for line in cgroup_text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def locate(home: str) -> CgroupTree | None:
    """procbot's subtree if a writable cgroup v2 is there, else None (use the fallback mode)."""
    try:
        with open("/proc/self/mounts") as f:
            mount = cgroup2_mount(f.read())
        with open("/proc/self/cgroup") as f:
            own = own_cgroup(f.read())
    except OSError:
        return None
    if mount is None or own is None:
        return None
    base = mount / own.lstrip("/") / f"procbot-{home}"
    try:
        try:
            base.mkdir()
            new = True
        except FileExistsError:
            new = False
        if not os.access(base / "cgroup.procs", os.W_OK):
            return None
    except OSError as e:
        log.info("no writable cgroup v2 at %s (%s): using environment tags", base, e)
        return None
    return CgroupTree(base, new=new)


class CgroupTree:
    """One procbot's programs as cgroups under ``base``. Each call is a few small kernfs reads."""

    def __init__(self, base: Path, new: bool = False) -> None:
        self.base = base
        self._base = str(base)
        #: the subtree was made by this procbot: no earlier one of this home ran in cgroup mode since boot
        self.new = new

    def path(self, program: str) -> Path:
        return self.base / program

    def _read(self, program: str, name: str) -> bytes:
        """One small kernfs file, read with a raw fd (a third of open()'s cost: stop all reads 2 per program)."""
        fd = os.open(f"{self._base}/{program}/{name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.read(fd, 1 << 20)
        finally:
            os.close(fd)

    def open_procs(self, program: str) -> int:
        """An fd on the program's cgroup.procs (made if new); the child writes "0" to it to move in."""
        p = self.path(program)
        with contextlib.suppress(FileExistsError):
            p.mkdir()
        return os.open(p / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)

    def procs(self, program: str) -> list[int]:
        """Live members (zombies are not listed); [] if the cgroup does not exist."""
        try:
            return [int(x) for x in self._read(program, "cgroup.procs").split()]
        except FileNotFoundError:
            return []

    def programs(self) -> list[str]:
        try:
            return [e.name for e in os.scandir(self.base) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    def kill(self, program: str) -> None:
        """SIGKILL every member at once, forks in flight included (cgroup.kill, Linux 5.14+)."""
        try:
            with open(self.path(program) / "cgroup.kill", "w") as f:
                f.write("1")
        except FileNotFoundError:
            if self.path(program).is_dir():  # an older kernel: one by one
                for pid in self.procs(program):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 9)

    def populated(self, program: str) -> bool:
        try:
            return b"populated 1" in self._read(program, "cgroup.events")
        except FileNotFoundError:
            return False

    def remove(self, program: str) -> bool:
        """Remove the program's cgroup if empty; True if it is gone."""
        try:
            self.path(program).rmdir()
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno in (errno.EBUSY, errno.ENOTEMPTY):
                return False
            raise
        return True

    # -- memory (max_memory): memory.max and the kernel's OOM kills ------------------------------
    def enable_memory(self) -> str | None:
        """Turn the memory controller on for the programs' cgroups; why it cannot be, or None.

        The kernel gives a cgroup ``memory.max`` only when its parent lists ``memory`` in
        ``cgroup.subtree_control``, and a non-root parent may list it only while it holds no
        process itself ("no internal processes"). procbot's subtree holds none; procbot's own
        cgroup holds procbot, so this works where that one already delegates memory to its
        children, or is the root of the hierarchy.
        """
        base_ctl = self.base / "cgroup.subtree_control"
        try:
            if "memory" in base_ctl.read_text().split():
                return None
            if "memory" not in (self.base / "cgroup.controllers").read_text().split():
                parent = self.base.parent
                if "memory" not in (parent / "cgroup.controllers").read_text().split():
                    return (f"the memory controller is not available in {parent} (not delegated to procbot, "
                            "or held by a cgroup v1 hierarchy)")
                try:
                    (parent / "cgroup.subtree_control").write_text("+memory")
                except OSError as e:
                    if e.errno == errno.EBUSY:
                        return (f"{parent} holds processes (procbot itself), so the kernel does not enable "
                                "controllers for its child cgroups")
                    raise
            base_ctl.write_text("+memory")
        except OSError as e:
            return f"cannot enable the memory controller under {self.base}: {e.strerror or e}"
        return None

    def set_memory_max(self, program: str, limit: int | None) -> None:
        """The program's ``memory.max``: bytes, or None for no limit. OSError if the kernel refuses."""
        fd = os.open(f"{self._base}/{program}/memory.max", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"max" if limit is None else str(limit).encode())
        finally:
            os.close(fd)

    def oom_kills(self, program: str) -> int | None:
        """The kernel's count of OOM kills in the program's cgroup (``memory.events``), None if unknown."""
        try:
            data = self._read(program, "memory.events")
        except OSError:
            return None
        for line in data.splitlines():
            key, _, value = line.partition(b" ")
            if key == b"oom_kill" and value.strip().isdigit():
                return int(value)
        return None

    def remove_base(self) -> None:
        with contextlib.suppress(OSError):
            self.base.rmdir()


class EmptyWatch:
    """Wait until a cgroup has no process, woken by inotify on cgroup.events (no polling)."""

    def __init__(self, tree: CgroupTree) -> None:
        self.tree = tree
        self._fd: int | None = None
        self._libc: ctypes.CDLL | None = None
        self._waiters: dict[int, tuple[str, list[asyncio.Future[None]]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> bool:
        if self._fd is not None:
            return True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError):
            return False
        if fd < 0:
            return False
        self._libc, self._fd = libc, fd
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)
        return True

    async def wait_empty(self, program: str, timeout: float) -> bool:
        """True once the program's cgroup has no process; False if ``timeout`` passed first."""
        if not self.tree.populated(program):
            return True
        if not self._open():
            return await self._poll(program, timeout)
        assert self._libc is not None
        wd = self._libc.inotify_add_watch(self._fd, str(self.tree.path(program) / "cgroup.events").encode(),
                                          IN_MODIFY)
        if wd < 0:
            return await self._poll(program, timeout)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(wd, (program, []))[1].append(fut)
        try:
            if not self.tree.populated(program):  # emptied between the first check and the watch
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(fut), timeout)
            return not self.tree.populated(program)
        finally:
            entry = self._waiters.get(wd)
            if entry is not None and fut in entry[1]:
                entry[1].remove(fut)
                if not entry[1]:
                    del self._waiters[wd]
                    self._libc.inotify_rm_watch(self._fd, wd)

    async def _poll(self, program: str, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.tree.populated(program):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return
        off = 0
        while off + _EVENT.size <= len(data):
            wd, _mask, _cookie, length = _EVENT.unpack_from(data, off)
            off += _EVENT.size + length
            entry = self._waiters.get(wd)
            if entry is None:
                continue
            program, futs = entry
            if not self.tree.populated(program):
                for fut in futs:
                    if not fut.done():
                        fut.set_result(None)

    def close(self) -> None:
        if self._fd is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
        for _program, futs in self._waiters.values():
            for fut in futs:
                if not fut.done():
                    fut.cancel()
        self._waiters.clear()
