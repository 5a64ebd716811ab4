"""The daemon's UNIX control socket, used by the local CLI.

Only the owner can open it (0600 in a 0700 directory) and the peer's uid
is checked with SO_PEERCRED, so reaching it proves the caller is the host
operator: CLI commands act as admin. Protocol: one JSON line each way.

Every connection gets exactly one reply line and an audit row when it is
refused, whatever it sends (nothing, half a line, 1 MB, invalid UTF-8,
JSON nested 50,000 deep) or however many others are connected: a client
can cost the daemon one slot for at most ``read_timeout`` seconds, and
``max_clients`` slots bound the file descriptors a crowd of idle clients
can hold (issue: 1,100 idle clients once exhausted a 1024-fd limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import pwd
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.actor import Actor, CommandContext
from core.errors import Busy, InvalidInput, ProcbotError, RequestTimeout, Unauthorized
from core.reply import Reply

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
#: a client that does not read its reply cannot hold the daemon longer than this either
WRITE_TIMEOUT = 5.0


@dataclass(frozen=True)
class ControlLimits:
    """What one local client may cost the daemon."""

    #: a complete request line must arrive within this many seconds of connecting
    read_timeout: float = 5.0
    #: bytes in one request line, newline included
    max_line: int = MAX_REQUEST
    #: clients served at once; one more is answered "busy" at once and closed
    max_clients: int = 128

    @property
    def backlog(self) -> int:
        """The kernel's listen queue: room for a burst of the cap several times over (asyncio's default is 100)."""
        return 4 * self.max_clients


#: connections asyncio accepts per wake-up; bounds the descriptors a burst can hold before refusals close
ACCEPT_BURST = 16


class ControlHandler(Protocol):
    async def handle(self, text: str, ctx: CommandContext) -> Reply: ...

    async def audit_refusal(self, ctx: CommandContext, text: str, outcome: str, detail: str) -> None: ...


class _BadRequest(Exception):
    def __init__(self, error: ProcbotError, text: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.text = text


class ControlServer:
    def __init__(self, path: Path, handler: ControlHandler, limits: ControlLimits | None = None) -> None:
        self.path = path
        self.handler = handler
        self.limits = limits or ControlLimits()
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._serving = 0

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)
        try:
            # asyncio accepts up to `backlog` connections in one burst before any refused one is closed,
            # so the accept burst stays small and the kernel's queue is widened afterwards with listen()
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=self.limits.max_line, backlog=ACCEPT_BURST
            )
            for ts in self._server.sockets:  # a dup is the same socket; asyncio's wrapper has no listen()
                with socket.socket(fileno=os.dup(ts.fileno())) as sock:
                    sock.listen(self.limits.backlog)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        for t in list(self._conns):
            t.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            uid = _peer_uid(writer)
            ctx = _context(uid)
            if self._serving >= self.limits.max_clients:
                await self._refuse_busy(writer, ctx)
                return
            self._serving += 1
            try:
                reply = await self._answer(reader, uid, ctx)
                await _send(writer, reply)
            finally:
                self._serving -= 1
        except Exception:  # a bug here must cost one connection, never the daemon's socket
            log.exception("control socket: unexpected failure serving a client")
            await _send(writer, Reply.internal_error())
        finally:
            _close(writer)
            self._conns.discard(task)

    async def _refuse_busy(self, writer: asyncio.StreamWriter, ctx: CommandContext) -> None:
        """Answer and close before auditing: the audit write may wait, the file descriptor must not."""
        err = Busy(f"procbot is busy: too many control clients at once (limit {self.limits.max_clients}); "
                   "try again in a moment.")
        with contextlib.suppress(OSError, RuntimeError):
            writer.write(_frame(Reply.error(err)))
        _close(writer)
        await self.handler.audit_refusal(ctx, "(not read)", "refused", str(err))

    async def _answer(self, reader: asyncio.StreamReader, uid: int, ctx: CommandContext) -> Reply:
        buf = bytearray()
        try:
            await asyncio.wait_for(self._read_line(reader, buf), self.limits.read_timeout)
            text, raw = _command_of(bytes(buf))
        except TimeoutError:
            err = RequestTimeout(f"Request timed out: no complete request line within "
                                 f"{self.limits.read_timeout:g}s.")
            await self.handler.audit_refusal(ctx, _shown(bytes(buf)), "invalid", str(err))
            return Reply.error(err)
        except _BadRequest as e:
            await self.handler.audit_refusal(ctx, e.text, "invalid", str(e.error))
            return Reply.error(e.error)
        if uid != os.getuid() and uid != 0:
            err = Unauthorized("Only the user running procbot may use its control socket.")
            await self.handler.audit_refusal(ctx, text, "refused", str(err))
            return Reply.error(err)
        if raw:  # unmasked log lines: only this owner-only socket can ask
            ctx = dataclasses.replace(ctx, raw=True)
        return await self.handler.handle(text, ctx)

    async def _read_line(self, reader: asyncio.StreamReader, buf: bytearray) -> None:
        """Fill ``buf`` up to the first newline (or EOF); our own buffer, so a timeout still knows the text."""
        while b"\n" not in buf:
            chunk = await reader.read(65536)
            if not chunk:
                break
            buf += chunk
            if len(buf) > self.limits.max_line and b"\n" not in buf[: self.limits.max_line]:
                raise _BadRequest(InvalidInput(
                    f"Request too long: more than {self.limits.max_line // 1024} KiB in one line."), _shown(bytes(buf)))
        del buf[buf.find(b"\n") + 1 if b"\n" in buf else len(buf):]


def _command_of(line: bytes) -> tuple[str, bool]:
    """(command text, raw logs asked for) of one request line, or a _BadRequest saying plainly what is wrong."""
    try:
        raw = line.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadRequest(InvalidInput("Malformed request: not valid UTF-8."), _shown(line)) from None
    try:
        req = json.loads(raw)
    except (ValueError, RecursionError):
        raise _BadRequest(InvalidInput('Malformed request: expected one JSON line like {"command": "status"}.'),
                          _shown(line)) from None
    text = req.get("command") if isinstance(req, dict) else None
    if not isinstance(text, str):
        raise _BadRequest(InvalidInput('Malformed request: expected one JSON line like {"command": "status"}.'),
                          _shown(line))
    return text, req.get("raw") is True


def _shown(data: bytes) -> str:
    """What the audit row records of a request that could not be read: its first bytes, printable."""
    text = data[:200].decode("utf-8", errors="replace").strip()
    return "".join(c if c.isprintable() else "?" for c in text) or "(empty)"


def _frame(reply: Reply) -> bytes:
    return json.dumps(reply.to_dict()).encode() + b"\n"


async def _send(writer: asyncio.StreamWriter, reply: Reply) -> None:
    with contextlib.suppress(OSError, TimeoutError, RuntimeError):  # RuntimeError: already closed
        writer.write(_frame(reply))
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)


def _close(writer: asyncio.StreamWriter) -> None:
    """Close without waiting: unread input must not turn into a reset before the reply is read."""
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()
    writer.close()


def _context(uid: int) -> CommandContext:
    name = _user_name(uid)
    local = uid in (os.getuid(), 0)
    return CommandContext(Actor("cli", name, display_name=name, local=local), channel="local")


def _peer_uid(writer: asyncio.StreamWriter) -> int:
    sock: socket.socket = writer.get_extra_info("socket")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
