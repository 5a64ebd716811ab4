"""The CLI's side of the control socket. Standard library only: the CLI must start fast.

A daemon that is momentarily full (its listen queue: EAGAIN; its client
cap: a "busy" reply) or restarting (ECONNREFUSED on a stale socket) is
retried briefly; after that the caller gets a plain exception it can turn
into a message and an exit status, never a traceback.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds at every CLI call)
if TYPE_CHECKING:
    from typing import Any

TIMEOUT = 60.0
#: how long a busy daemon (full listen queue, or at its client cap) is retried
BUSY_RETRY_FOR = 3.0
#: how long a socket that refuses connections (daemon restarting, or dead) is retried
REFUSED_RETRY_FOR = 1.0


class DaemonUnreachable(Exception):
    pass


class DaemonForbidden(DaemonUnreachable):
    """The socket is there but this user may not open it: a failed command (exit 1), not a missing daemon."""


class DaemonBusy(DaemonUnreachable):
    """The daemon is there but did not take the request in time; trying again later may work."""


def send(path: Path, command: str, timeout: float = TIMEOUT, raw: bool = False, retry: bool = True) -> dict[str, Any]:
    """One command's reply. ``retry=False`` (shell completion): one attempt, the OS's error as it comes."""
    request = json.dumps({"command": command, **({"raw": True} if raw else {})}).encode() + b"\n"
    if not retry:
        return _once(path, request, timeout)
    start = time.monotonic()
    pause = 0.02
    while True:
        waited = time.monotonic() - start
        try:
            reply = _once(path, request, timeout)
        except BlockingIOError:
            if waited >= BUSY_RETRY_FOR:
                raise DaemonBusy(f"procbot is busy (its control socket at {path} is not accepting connections); "
                                 "try again in a moment") from None
        except ConnectionRefusedError:
            if waited >= REFUSED_RETRY_FOR:
                raise DaemonUnreachable(f"procbot is not running (nothing answers at {path}); "
                                        "start it with `procbot run`") from None
        else:
            if reply.get("error_code") != "busy":
                return reply
            if waited >= BUSY_RETRY_FOR:
                raise DaemonBusy(str(reply.get("text") or "procbot is busy; try again in a moment"))
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _once(path: Path, request: bytes, timeout: float) -> dict[str, Any]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        try:
            s.connect(str(path))
        except FileNotFoundError:
            raise DaemonUnreachable(f"procbot is not running (no daemon at {path}); start it with `procbot run`") \
                from None
        except PermissionError:
            raise DaemonForbidden(f"permission denied for {path}: run as the user that runs procbot") from None
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon answered and closed before reading (busy, or refused): its reply is still there
        line = _read_line(s)
    except TimeoutError:
        raise DaemonUnreachable(f"procbot did not answer within {timeout:g}s") from None
    finally:
        s.close()
    if not line:
        raise DaemonUnreachable("the daemon closed the connection without answering (see procbot's log)")
    try:
        reply = json.loads(line)
    except ValueError:
        raise DaemonUnreachable("the daemon's answer was not readable (is this procbot's socket?)") from None
    if not isinstance(reply, dict):
        raise DaemonUnreachable("the daemon's answer was not readable (is this procbot's socket?)")
    return reply


def _read_line(s: socket.socket) -> bytes:
    """One reply line; a reset after it (the daemon closed with our request unread) changes nothing."""
    chunks: list[bytes] = []
    while True:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
        if b"\n" in data:
            break
    return b"".join(chunks).split(b"\n", 1)[0]
