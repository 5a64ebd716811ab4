"""The log daemon's loop: read the programs' pipes, write their files, answer procbot.

One thread, one ``selectors`` loop. Each attached pipe is a :class:`Stream`;
streams of one program and kind share a :class:`LogFile`, so the output of
a restarted program and of leftovers of its previous run go to one file.
A writer faster than the disk is slowed down by its own full pipe, never
by procbot, and never grows the disk past the bound.

The daemon exits when it holds no pipe and no client is connected (after
a short grace at start-up): a procbot that stopped its programs leaves
nothing behind, one that exits leaving programs running leaves the
daemon serving them. Stdlib only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import socket
import struct
import sys
import time
import traceback
from collections import deque

from core.logd import protocol
from core.logd.files import Counters, LogDir, LogFile, Settings

TYPE_CHECKING = False  # not imported from typing: the daemon does without the typing module
if TYPE_CHECKING:
    from typing import Any

READ_CHUNK = 256 * 1024
MAX_PARTIAL = 64 * 1024      # a line longer than this is written out in pieces
PARTIAL_FLUSH = 0.5          # seconds an unfinished line waits for its newline
FLUSH_LIMIT = 8 * 1024 * 1024  # a flush drains at most this much per pipe
CHECK_EVERY = 5.0            # seconds between checks that files were not replaced under us
START_GRACE = 3.0  # seconds a fresh daemon waits for its first procbot
#: a program's name, or an instance's (``web:2``, core.spec.instances): never a path separator
NAME_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-:")


class Stream:
    """One pipe read end: a program's stdout (or stderr) for one run."""

    __slots__ = ("fd", "kind", "log", "mid_line", "partial", "partial_at", "program", "run")

    def __init__(self, fd: int, program: str, kind: str, run: str, log: LogFile) -> None:
        self.fd = fd
        self.program = program
        self.kind = kind  # "out" or "err"
        self.run = run
        self.log = log
        self.partial = bytearray()
        self.partial_at = 0.0
        self.mid_line = False

    @property
    def key(self) -> tuple[str, str, str]:
        return self.program, self.kind, self.run

    def feed(self, chunk: bytes, now: float) -> None:
        cut = chunk.rfind(b"\n")
        if cut < 0:
            if not self.partial:
                self.partial_at = now
            self.partial += chunk
            if len(self.partial) >= MAX_PARTIAL:
                self.flush_partial(now)
            return
        if self.partial:
            head, self.partial = bytes(self.partial) + chunk[: cut + 1], bytearray(chunk[cut + 1:])
        else:
            head, self.partial = chunk[: cut + 1], bytearray(chunk[cut + 1:])
        self.log.emit(head, now, continues=self.mid_line)
        self.mid_line = False
        if self.partial:
            self.partial_at = now

    def flush_partial(self, now: float, *, end: bool = False) -> None:
        """Write the unfinished line; at the end of the stream, finish it with a newline."""
        if self.partial:
            self.log.emit(bytes(self.partial) + (b"\n" if end else b""), now, continues=self.mid_line)
            self.partial.clear()
            self.mid_line = not end
        elif end and self.mid_line:
            self.log.emit(b"\n", now, continues=True)
            self.mid_line = False


class Client:
    __slots__ = ("out", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.out: deque[tuple[bytes, list[int]]] = deque()


class LogDaemon:
    def __init__(self, state_dir: str, *, grace: float = START_GRACE) -> None:
        self.state_dir = state_dir
        self.sel = selectors.DefaultSelector()
        self.streams: dict[int, Stream] = {}
        self.logs: dict[tuple[str, str], LogFile] = {}
        self.dirs: dict[str, LogDir] = {}
        self.clients: dict[int, Client] = {}
        self.started = time.monotonic()
        self.grace = grace
        self.listener: socket.socket | None = None
        self._last_check = 0.0

    # -- set-up ----------------------------------------------------------
    def bind(self) -> bool:
        """Take the state dir's logger lock and listen; False if another daemon holds it."""
        lock = os.open(os.path.join(self.state_dir, protocol.LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            return False
        os.ftruncate(lock, 0)
        os.write(lock, f"{os.getpid()}\n".encode())  # kept open (and locked) for the process's life
        path = protocol.socket_path(self.state_dir)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        sock.listen(16)
        sock.setblocking(False)
        self.listener = sock
        self.sel.register(sock, selectors.EVENT_READ, self._accept)
        return True

    # -- the loop --------------------------------------------------------
    def run(self) -> None:
        while not self._done():
            for key, mask in self.sel.select(self._timeout()):
                try:
                    key.data(key.fileobj, mask)
                except Exception:  # noqa: BLE001 - a bug must not take every program's log down
                    self._report_bug()
            self._tick(time.time())

    _last_bug = 0.0

    def _report_bug(self) -> None:
        """To the daemon's stderr (<state_dir>/logd.err), at most once a second."""
        if time.monotonic() - self._last_bug >= 1.0:
            self._last_bug = time.monotonic()
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()

    def _done(self) -> bool:
        return not self.streams and not self.clients and time.monotonic() - self.started >= self.grace

    def _timeout(self) -> float | None:
        if any(s.partial for s in self.streams.values()):
            return PARTIAL_FLUSH / 2
        if not self.streams and not self.clients:
            return max(0.05, self.grace - (time.monotonic() - self.started))
        if any(lf.fd >= 0 for lf in self.logs.values()):
            return CHECK_EVERY
        return None

    def _tick(self, now: float) -> None:
        for s in self.streams.values():
            if s.partial and now - s.partial_at >= PARTIAL_FLUSH:
                s.flush_partial(now)
        mono = time.monotonic()
        if mono - self._last_check >= CHECK_EVERY:
            self._last_check = mono
            for lf in self.logs.values():
                lf.check()

    # -- pipes -----------------------------------------------------------
    def _readable(self, fileobj: Any, mask: int) -> None:
        self._drain(self.streams[fileobj], READ_CHUNK)

    def _drain(self, s: Stream, limit: int) -> None:
        """Read what the pipe holds, up to ``limit`` bytes; close the stream at its end."""
        got = 0
        while got < limit:
            try:
                chunk = os.read(s.fd, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._end(s)
                return
            got += len(chunk)
            s.feed(chunk, time.time())

    def _end(self, s: Stream) -> None:
        s.flush_partial(time.time(), end=True)
        self.sel.unregister(s.fd)
        os.close(s.fd)
        del self.streams[s.fd]

    # -- clients ---------------------------------------------------------
    def _accept(self, fileobj: Any, mask: int) -> None:
        assert self.listener is not None
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                            struct.calcsize("3i")))
        if uid != os.getuid():  # only procbot's own user may hand over pipes and name log dirs
            sock.close()
            return
        sock.setblocking(False)
        self.clients[sock.fileno()] = Client(sock)
        self.sel.register(sock, selectors.EVENT_READ, self._client_event)

    def _client_event(self, fileobj: Any, mask: int) -> None:
        client = self.clients.get(fileobj.fileno())
        if client is None:
            return
        if mask & selectors.EVENT_WRITE:
            self._send_queued(client)
        if mask & selectors.EVENT_READ:
            for _ in range(64):  # bounded per wake-up: pipes get their turn
                try:
                    got = protocol.recv(client.sock)
                except BlockingIOError:
                    return
                except ValueError as e:
                    self._reply(client, {"id": None, "ok": False, "error": f"bad message: {e}"})
                    continue
                except OSError:
                    got = None
                if got is None:
                    self._drop_client(client)
                    return
                msg, fds = got
                try:
                    self._handle(client, msg, fds)
                except (ValueError, KeyError, TypeError, OSError) as e:  # a bad request answers, nothing more
                    for fd in fds:
                        with contextlib.suppress(OSError):
                            os.close(fd)
                    self._reply(client, {"id": msg.get("id"), "ok": False, "error": str(e)})

    def _drop_client(self, client: Client) -> None:
        self.sel.unregister(client.sock)
        del self.clients[client.sock.fileno()]
        for _, fds in client.out:
            for fd in fds:
                os.close(fd)
        client.sock.close()

    def _reply(self, client: Client, msg: dict[str, Any], fds: list[int] | None = None) -> None:
        client.out.append((protocol.encode(msg), fds or []))
        self._send_queued(client)

    def _send_queued(self, client: Client) -> None:
        while client.out:
            data, fds = client.out[0]
            try:
                if fds:
                    client.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                  protocol.array.array("i", fds))])
                else:
                    client.sock.send(data)
            except BlockingIOError:
                break
            except OSError:
                self._drop_client(client)
                return
            client.out.popleft()
            for fd in fds:
                os.close(fd)
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0)
        self.sel.modify(client.sock, events, self._client_event)

    # -- requests --------------------------------------------------------
    def _handle(self, client: Client, msg: dict[str, Any], fds: list[int]) -> None:
        op, rid = msg.get("op"), msg.get("id")
        if op == "attach":
            self._attach(msg, fds)
            self._reply(client, {"id": rid, "ok": True})
        elif op == "flush":
            program = str(msg.get("program"))
            ended = True
            for s in [s for s in self.streams.values() if s.program == program]:
                self._drain(s, FLUSH_LIMIT)
                if s.fd in self.streams:
                    s.flush_partial(time.time())
                    ended = False
            self._reply(client, {"id": rid, "ok": True, "ended": ended, "stats": self._stats(program)})
        elif op == "clear":
            self._reply(client, {"id": rid, "ok": True, **self._clear(str(msg["program"]), str(msg["log_dir"]))})
        elif op == "stats":
            names = msg.get("programs") or sorted({p for p, _ in self.logs})
            self._reply(client, {"id": rid, "ok": True, "stats": {p: self._stats(p) for p in names}})
        elif op == "holdings":
            self._holdings(client, rid, int(msg.get("offset", 0)))
        elif op == "hello":
            self._reply(client, {"id": rid, "ok": True, "pid": os.getpid(), "version": protocol.VERSION,
                                 "streams": len(self.streams)})
        else:
            raise ValueError(f"unknown op {op!r}")

    def _attach(self, msg: dict[str, Any], fds: list[int]) -> None:
        if len(fds) != 1:
            raise ValueError("attach needs exactly one pipe")
        fd = fds[0]
        program, kind, run = str(msg["program"]), str(msg["kind"]), str(msg["run"])
        if not program or not set(program) <= NAME_OK or program.startswith("."):
            raise ValueError(f"bad program name {program!r}")
        if kind not in ("out", "err"):
            raise ValueError(f"bad stream kind {kind!r}")
        if any(s.key == (program, kind, run) for s in self.streams.values()):
            os.close(fd)  # already held (a procbot re-sent what this daemon has): keep one
            return
        settings = Settings(**{k: msg[k] for k in Settings.FIELDS if k in msg})
        name = f"{program}.log" if kind == "out" else f"{program}.err.log"
        log_dir = self._dir(str(msg["log_dir"]))
        lf = self.logs.get((program, kind))
        if lf is None or lf.dir is not log_dir:
            if lf is not None:
                lf.close()
            lf = self.logs[(program, kind)] = LogFile(log_dir, name, settings)
        lf.settings = settings  # the newest run's settings win (a reload may have changed them)
        os.set_blocking(fd, False)
        self.streams[fd] = Stream(fd, program, kind, run, lf)
        self.sel.register(fd, selectors.EVENT_READ, self._readable)

    def _clear(self, program: str, log_dir: str) -> dict[str, Any]:
        """Empty the program's files (stdout's, and stderr's own if it has one) here, where they are written.

        What its pipes already hold is written first, so it is cleared too rather than showing up
        after the clear; an unfinished line stays buffered and lands whole in the new file.
        """
        if not program or not set(program) <= NAME_OK or program.startswith("."):
            raise ValueError(f"bad program name {program!r}")
        for s in [s for s in self.streams.values() if s.program == program]:
            self._drain(s, FLUSH_LIMIT)
        emptied: dict[str, int] = {}
        for kind, name in (("out", f"{program}.log"), ("err", f"{program}.err.log")):
            lf = self.logs.get((program, kind))
            spare = lf is None  # not written by this daemon yet (it started after the program stopped)
            if lf is None:
                lf = LogFile(self._dir(log_dir), name, Settings())
            try:
                held = lf.clear()
            finally:
                if spare:
                    lf.close()
            if held is not None:
                emptied[name] = held
        return {"emptied": emptied}

    def _dir(self, path: str) -> LogDir:
        """Opened lazily by the first write: an unwritable log dir drops (and counts) lines, then recovers."""
        if path not in self.dirs:
            if not os.path.isabs(path):
                raise ValueError("log_dir must be absolute")
            self.dirs[path] = LogDir(path)
        return self.dirs[path]

    def _holdings(self, client: Client, rid: Any, offset: int) -> None:
        """Dups of the pipes held, with what procbot needs to re-attach them to a new daemon."""
        streams = sorted(self.streams.values(), key=lambda s: s.key)
        page = streams[offset: offset + protocol.MAX_FDS]
        meta = []
        for s in page:
            meta.append({"program": s.program, "kind": s.kind, "run": s.run, "log_dir": s.log.dir.path,
                         **s.log.settings.as_dict()})
        fds = [os.dup(s.fd) for s in page]
        self._reply(client, {"id": rid, "ok": True, "streams": meta, "total": len(streams)}, fds)

    def _stats(self, program: str) -> dict[str, Any]:
        total = Counters()
        for (p, _), lf in self.logs.items():
            if p == program:
                total.add(lf.counters)
        out = total.as_dict()
        out["pipes"] = sum(1 for s in self.streams.values() if s.program == program)
        return out


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m core.logd STATE_DIR [GRACE_SECONDS]", file=sys.stderr)
        return 2
    grace = float(argv[2]) if len(argv) > 2 else START_GRACE
    daemon = LogDaemon(argv[1], grace=grace)
    try:
        if not daemon.bind():
            return 3  # another log daemon serves this state dir
    except OSError as e:
        print(f"procbot-logd: cannot listen in {argv[1]}: {e}", file=sys.stderr)
        return 1
    with contextlib.suppress(KeyboardInterrupt):
        daemon.run()
    with contextlib.suppress(OSError):
        os.unlink(protocol.socket_path(daemon.state_dir))
    return 0

