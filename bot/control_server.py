"""The daemon's UNIX control socket, used by the local CLI.

Only the owner can open it (0600 in a 0700 directory) and the peer's uid
is checked with SO_PEERCRED, so reaching it proves the caller is the host
operator: CLI commands act as admin. Protocol: one JSON line each way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import socket
import struct
from pathlib import Path

from core.actor import Actor, CommandContext
from core.errors import InvalidInput
from core.ports import CommandHandler
from core.reply import Reply

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024


def socket_path(state_dir: Path) -> Path:
    return state_dir / "procbot.sock"


class ControlServer:
    def __init__(self, path: Path, handler: CommandHandler) -> None:
        self.path = path
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_REQUEST)
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
            if uid != os.getuid() and uid != 0:
                reply = Reply.error(InvalidInput("Only the user running procbot may use its control socket."))
            else:
                reply = await self._answer(reader, uid)
            writer.write(json.dumps(reply.to_dict()).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            log.warning("control socket: bad request: %s", e)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._conns.discard(task)

    async def _answer(self, reader: asyncio.StreamReader, uid: int) -> Reply:
        line = await reader.readline()
        try:
            req = json.loads(line)
            text = req["command"]
            if not isinstance(text, str):
                raise TypeError
            raw = req.get("raw") is True  # unmasked log lines: only this owner-only socket can ask
        except (ValueError, KeyError, TypeError):
            return Reply.error(InvalidInput("Malformed request."))
        actor = Actor("cli", _user_name(uid), display_name=_user_name(uid), local=True)
        return await self.handler.handle(text, CommandContext(actor, channel="local", raw=raw))


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
