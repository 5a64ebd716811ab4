"""procbot's side of the log daemon: pipes for children, an fd holder, flush before alerts.

For every program stream procbot makes a pipe, gives the write end to the
child and the read end to the log daemon over its socket (SCM_RIGHTS),
keeping a dup of the read end itself, as s6-fdholder does. So:

- procbot dies: the daemon keeps reading; a new procbot asks it for what
  it holds (``holdings``) and holds dups again;
- the daemon dies: the pipes still have a reader (procbot's dup), so no
  child sees EPIPE; output waits in the pipe (a child blocks once its pipe
  is full) until procbot has started a new daemon and re-attached them;
- both die at once: the pipes lose their last reader and the children get
  EPIPE/SIGPIPE on their next write. We accept that rather than keep a third
  holder: a program that dies of it is a crash the next procbot sees and
  restarts with fresh pipes; a program blocked forever on a pipe nobody will
  ever read would be a hang no one sees.

No request ever blocks the event loop: the socket is non-blocking and
every request has a short timeout.

Why one module of this size: the pipe dups, the daemon's launch, re-attach
after either side dies and the fallback to direct files are one protocol's
client; split, each half would need the other's invariants to be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import stat
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import core
from core.errors import ProcbotError
from core.logd import protocol
from core.process.events import EventBus, EventKind, ProgramEvent
from core.process.logs import err_log_path, log_path, open_for_child
from core.spec import ProgramSpec

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 2.0
FLUSH_TIMEOUT = 1.0
REVIVE_BACKOFF = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)
EXITS = frozenset({EventKind.CRASHED, EventKind.EXITED, EventKind.GAVE_UP})
PROJECT_ROOT = str(Path(core.__file__).resolve().parent.parent)  # for ``python -m core.logd``


class CannotLaunch(OSError):
    """The daemon's process could not even be created (no interpreter, EMFILE ...)."""


@dataclass
class ChildStreams:
    """The fds a child gets as stdout and stderr; procbot closes its copies after the spawn."""

    stdout: int
    stderr: int

    def close(self) -> None:
        for fd in {self.stdout, self.stderr}:
            with contextlib.suppress(OSError):
                os.close(fd)


class ChildOutput(Protocol):
    """Where a program's output goes; the runner asks for its fds right before each spawn."""

    def open(self, spec: ProgramSpec) -> ChildStreams: ...

    async def flush(self, program: str) -> None: ...

    async def stats(self, program: str) -> dict[str, Any] | None: ...

    async def clear(self, program: str) -> dict[str, int]:
        """Empty the program's log files; file name -> the bytes they held. ProcbotError if it cannot."""
        ...

    def status_notes(self) -> list[str]: ...


class DirectFiles:
    """The fallback: children write their log file themselves (O_APPEND), without rotation."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir

    def open(self, spec: ProgramSpec) -> ChildStreams:
        fd = open_for_child(log_path(self.log_dir, spec.name))
        return ChildStreams(fd, fd)

    async def flush(self, program: str) -> None:
        return None

    async def stats(self, program: str) -> dict[str, Any] | None:
        return None

    async def clear(self, program: str) -> dict[str, int]:
        return await asyncio.to_thread(self._truncate, program)

    def _truncate(self, program: str) -> dict[str, int]:
        """Truncated in place, not replaced: the children write these files themselves (O_APPEND, so
        their next line lands at the new end); a new file would leave them writing the removed one."""
        emptied = {}
        for path in (log_path(self.log_dir, program), err_log_path(self.log_dir, program)):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise ProcbotError(f"cannot clear {path.name}: {e.strerror or e}") from None
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise ProcbotError(f"{path.name} is not a regular file; not clearing it")
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)
            emptied[path.name] = st.st_size
        return emptied

    def status_notes(self) -> list[str]:
        return []


def describe_stats(stats: dict[str, Any] | None) -> str:
    """One line for ``info``: what the log daemon wrote, and every line it did not."""
    if stats is None:
        return "no figures (log daemon not reachable)"
    text = f"{stats['lines_written']} lines, {stats['rotations']} rotations"
    lost = [f"{stats['dropped_lines']} lines ({stats['dropped_bytes']} bytes) lost" if stats["dropped_lines"] else "",
            f"{stats['suppressed_lines']} lines rate-limited" if stats["suppressed_lines"] else "",
            f"{stats['backups_deleted']} backups deleted for space" if stats["backups_deleted"] else "",
            f"{stats['links_replaced']} planted links removed" if stats["links_replaced"] else ""]
    text += "".join(f"; {x}" for x in lost if x)
    if stats.get("last_error"):
        text += f"; last error: {stats['last_error']}"
    return text


@dataclass
class _Held:
    meta: dict[str, Any]
    fd: int  # procbot's dup of the pipe's read end


class LogDaemonClient:
    def __init__(self, state_dir: Path, log_dir: Path, *, python: str = sys.executable,
                 grace: float | None = None, bus: EventBus | None = None) -> None:
        self.state_dir = state_dir
        self.log_dir = log_dir.absolute()
        self.python = python
        self.grace = grace
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[tuple[dict[str, Any], list[int]] | None]] = {}
        self._out: deque[tuple[bytes, list[int]]] = deque()
        self._held: dict[tuple[str, str], _Held] = {}
        self._launched: list[subprocess.Popen[bytes]] = []
        self._revive: asyncio.Task[None] | None = None
        self._bus = bus
        self._events: asyncio.Queue[ProgramEvent] | None = None
        self._on_exits: asyncio.Task[None] | None = None
        self._flushing: dict[str, asyncio.Task[None]] = {}
        self._ready = asyncio.Event()  # connected, and every held pipe handed over (a flush must not overtake them)
        self._closed = False
        self.daemon_pid: int | None = None
        self.down_since: float | None = None
        self.stats_cache: dict[str, dict[str, Any]] = {}
        self.fallback = DirectFiles(log_dir)
        self.unavailable = ""  # why children write their files directly, if they do

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        """Find the running daemon (after a procbot restart) or start one, in the background.

        Spawns need not wait for it: their pipes are held here and handed over
        the moment the daemon answers, so start-up is not slowed by the daemon's.
        """
        self.down_since = asyncio.get_running_loop().time()
        self._revive = asyncio.create_task(self._revive_loop(first=True), name="logd-connect")
        if self._bus is not None:
            self._events = self._bus.subscribe()
            self._on_exits = asyncio.create_task(self._flush_on_exit(self._events), name="logd-flush-on-exit")

    async def close(self) -> None:
        """Let go of the daemon; it exits by itself once its pipes are closed and no procbot is connected."""
        self._closed = True
        if self._bus is not None and self._events is not None:
            self._bus.unsubscribe(self._events)
        tasks = [t for t in (self._revive, self._on_exits, *self._flushing.values()) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._flushing.clear()
        self._disconnect()
        for held in self._held.values():
            os.close(held.fd)
        self._held.clear()
        for p in self._launched:
            p.poll()  # reap it if it already exited; a running one carries on without us

    # -- what the runner calls -------------------------------------------
    def open(self, spec: ProgramSpec) -> ChildStreams:
        """Synchronous on purpose: a spawn never waits for the log daemon (the pipe is handed over later)."""
        if self.unavailable:
            return self.fallback.open(spec)
        kinds = ["out", "err"] if spec.log.stderr_file else ["out"]
        ends: dict[str, int] = {}
        for kind in kinds:
            r, w = os.pipe2(os.O_CLOEXEC)
            meta = {"program": spec.name, "kind": kind, "run": _run_token(), "log_dir": str(self.log_dir),
                    "max_bytes": spec.log.max_bytes, "backups": spec.log.backups,
                    "timestamps": spec.log.timestamps, "rate_burst": spec.log.rate_limit_burst,
                    "rate_interval": spec.log.rate_limit_interval}
            old = self._held.pop((spec.name, kind), None)
            if old is not None:  # the previous run's pipe: the daemon keeps reading it to its end
                os.close(old.fd)
            held = self._held[(spec.name, kind)] = _Held(meta, r)
            if self._sock is not None:
                self._attach(held)
            ends[kind] = w
        return ChildStreams(ends["out"], ends.get("err", ends["out"]))

    async def flush(self, program: str) -> None:
        """Have the daemon write out everything the program's pipes hold (call after it exited).

        Joins the flush already asked for when the exit was published, so many
        programs dying together are flushed in parallel, not one round trip each.
        """
        await asyncio.shield(self._flush_task(program))

    def _flush_task(self, program: str) -> asyncio.Task[None]:
        task = self._flushing.get(program)
        if task is None or task.done():
            task = self._flushing[program] = asyncio.create_task(self._flush_now(program), name=f"logd-flush-{program}")
            task.add_done_callback(lambda t: self._flushing.pop(program, None) if self._flushing.get(program) is t
                                   else None)
        return task

    async def _flush_now(self, program: str) -> None:
        if not self._ready.is_set() and not self.unavailable:
            # a program that exits while the daemon is still starting (or being revived) would otherwise be
            # flushed before its pipe reached the daemon, and its crash alert would miss its last lines
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_TIMEOUT):
                    await self._ready.wait()
        got = await self._request({"op": "flush", "program": program}, timeout=FLUSH_TIMEOUT)
        if got is not None and got.get("ok"):
            self.stats_cache[program] = got["stats"]

    async def _flush_on_exit(self, events: asyncio.Queue[ProgramEvent]) -> None:
        while True:
            ev = await events.get()
            if ev.kind in EXITS and (ev.program, "out") in self._held:
                self._flush_task(ev.program)

    async def stats(self, program: str) -> dict[str, Any] | None:
        got = await self._request({"op": "stats", "programs": [program]}, timeout=REQUEST_TIMEOUT)
        if got is None or not got.get("ok"):
            return None
        self.stats_cache[program] = got["stats"][program]
        return self.stats_cache[program]

    async def clear(self, program: str) -> dict[str, int]:
        """Have the daemon empty the files it writes (core.logd.files.LogFile.clear); never behind its back."""
        if not self._ready.is_set() and not self.unavailable:  # starting, or being revived: give it a moment
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await self._ready.wait()
        if self.unavailable:
            return await self.fallback.clear(program)
        got = await self._request({"op": "clear", "program": program, "log_dir": str(self.log_dir)})
        if got is None:
            raise ProcbotError("The log daemon is not answering right now, so the log was not cleared; "
                               "try again in a moment.")
        if not got.get("ok"):
            raise ProcbotError(f"The log daemon could not clear the log: {got.get('error')}")
        return {str(k): int(v) for k, v in got["emptied"].items()}

    def status_notes(self) -> list[str]:
        notes = []
        if self.unavailable:
            notes.append(f"logs: {self.unavailable}; programs write their files directly, without rotation")
        elif self._sock is None:
            notes.append("logs: the log daemon is down; output waits in the pipes until it is back")
        for name, st in sorted(self.stats_cache.items()):
            if st.get("dropped_lines"):
                notes.append(f"logs: {name} lost {st['dropped_lines']} lines ({st.get('last_error') or 'write error'})")
        return notes

    # -- connection ------------------------------------------------------
    async def _connect_or_launch(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        sock = self._try_connect()
        if sock is None:
            sock = await self._launch()
        self._sock = sock
        loop = asyncio.get_running_loop()
        loop.add_reader(sock.fileno(), self._on_readable)
        hello = await self._request({"op": "hello"})
        if hello is None:
            raise OSError("the log daemon did not answer")
        self.daemon_pid = hello.get("pid")
        await self._take_holdings()  # what a daemon that outlived the last procbot still reads
        for held in self._held.values():  # and what we held meanwhile (it keeps one copy of each)
            self._attach(held)
        self._ready.set()
        self.down_since = None
        self.unavailable = ""
        log.info("log daemon pid=%s holds %d pipes", self.daemon_pid, len(self._held))

    def _try_connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            sock.connect(protocol.socket_path(self.state_dir))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            return None
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    async def _launch(self) -> socket.socket:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": PROJECT_ROOT,
               "PYTHONDONTWRITEBYTECODE": "1"}
        args = [self.python, "-S", "-m", "core.logd",  # -S: no site packages, a smaller process
                str(self.state_dir.absolute())]
        if self.grace is not None:
            args.append(str(self.grace))
        err = os.open(self.state_dir / "logd.err", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            # its own session, outside every program's process group: it outlives procbot and stop
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                    cwd="/", env=env, start_new_session=True, close_fds=True)
        except (OSError, ValueError) as e:
            raise CannotLaunch(f"{self.python}: {e}") from e
        finally:
            os.close(err)
        self._launched = [p for p in self._launched if p.poll() is None] + [proc]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONNECT_TIMEOUT
        while loop.time() < deadline:
            sock = self._try_connect()
            if sock is not None:
                return sock
            if proc.poll() not in (None, 3):  # 3: another daemon won the lock; connect to that one
                raise OSError(f"the log daemon exited with status {proc.returncode} (see {self.state_dir}/logd.err)")
            await asyncio.sleep(0.01)
        raise OSError("the log daemon did not start listening")

    async def _take_holdings(self) -> None:
        offset, total = 0, 1
        while offset < total:
            got = await self._request_fds({"op": "holdings", "offset": offset})
            if got is None:
                raise OSError("the log daemon did not list its pipes")
            msg, fds = got
            total = int(msg["total"])
            for meta, fd in zip(msg["streams"], fds, strict=True):
                key = (meta["program"], meta["kind"])
                old = self._held.get(key)
                if old is not None and old.meta["run"] > meta["run"]:
                    os.close(fd)  # two runs' pipes (a leftover still writing): hold one per program
                    continue
                if old is not None:
                    os.close(old.fd)
                self._held[key] = _Held(meta, fd)
            offset += len(fds)
            if not fds:
                break

    def _lost(self) -> None:
        """The daemon's end closed: it died. Keep holding the pipes and bring a new daemon up."""
        log.error("the log daemon (pid %s) is gone; starting a new one", self.daemon_pid)
        self._disconnect()
        loop = asyncio.get_running_loop()
        self.down_since = loop.time()
        if not self._closed and (self._revive is None or self._revive.done()):
            self._revive = asyncio.create_task(self._revive_loop(), name="logd-revive")

    async def _revive_loop(self, first: bool = False) -> None:
        for attempt in itertools.count():
            if not first or attempt:
                await asyncio.sleep(REVIVE_BACKOFF[min(attempt, len(REVIVE_BACKOFF) - 1)])
            for p in self._launched:
                p.poll()
            try:
                await self._connect_or_launch()
                return
            except OSError as e:
                self._disconnect()
                if attempt == 2 or (isinstance(e, CannotLaunch) and not self.unavailable):
                    # new programs write their files directly meanwhile (the old way: no rotation)
                    self.unavailable = f"cannot start the log daemon: {e}"
                    log.error("%s; programs write their log files directly, without rotation", self.unavailable)

    def _disconnect(self) -> None:
        self._ready.clear()
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(Exception):
                loop = asyncio.get_running_loop()
                loop.remove_reader(sock.fileno())
                loop.remove_writer(sock.fileno())
            sock.close()
        for _, fds in self._out:
            for fd in fds:
                os.close(fd)
        self._out.clear()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_result(None)
        self._pending.clear()

    # -- messages --------------------------------------------------------
    def _attach(self, held: _Held) -> None:
        """Fire and forget: we hold the pipe ourselves, so nothing waits on the daemon's answer."""
        rid = next(self._ids)
        self._send({"op": "attach", "id": rid, **held.meta}, [os.dup(held.fd)])

    async def _request(self, msg: dict[str, Any], timeout: float = REQUEST_TIMEOUT) -> dict[str, Any] | None:
        got = await self._request_fds(msg, timeout)
        if got is None:
            return None
        reply, fds = got
        for fd in fds:
            os.close(fd)
        return reply

    async def _request_fds(self, msg: dict[str, Any], timeout: float = REQUEST_TIMEOUT
                           ) -> tuple[dict[str, Any], list[int]] | None:
        if self._sock is None:
            return None
        rid = next(self._ids)
        fut: asyncio.Future[tuple[dict[str, Any], list[int]] | None] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._send({**msg, "id": rid}, [])
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            log.warning("the log daemon did not answer %s within %ss", msg.get("op"), timeout)
            return None
        finally:
            self._pending.pop(rid, None)

    def _send(self, msg: dict[str, Any], fds: list[int]) -> None:
        """Send now, or queue behind earlier messages; the fds sent are closed once sent."""
        self._out.append((protocol.encode(msg), fds))
        if len(self._out) == 1:
            self._flush_out()

    def _flush_out(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while self._out:
            data, fds = self._out[0]
            try:
                if fds:
                    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, protocol.array.array("i", fds))])
                else:
                    sock.send(data)
            except BlockingIOError:
                asyncio.get_running_loop().add_writer(sock.fileno(), self._flush_out)
                return
            except OSError:
                self._lost()
                return
            self._out.popleft()
            for fd in fds:
                os.close(fd)
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_writer(sock.fileno())

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                got = protocol.recv(sock)
            except BlockingIOError:
                return
            except ValueError as e:
                log.error("bad message from the log daemon: %s", e)
                continue
            except OSError:
                got = None
            if got is None:
                self._lost()
                return
            msg, fds = got
            fut = self._pending.get(msg.get("id"))  # type: ignore[arg-type]
            if fut is not None and not fut.done():
                fut.set_result((msg, fds))
                continue
            for fd in fds:
                os.close(fd)
            if not msg.get("ok", True):
                log.error("log daemon: %s", msg.get("error"))


def _run_token() -> str:
    """Unique per pipe, ordered by time: of two runs' pipes, the later one sorts last."""
    return f"{time.time_ns():016x}{os.urandom(3).hex()}"
