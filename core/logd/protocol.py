"""Messages between procbot and the log daemon: one JSON object per SOCK_SEQPACKET datagram.

SEQPACKET keeps message boundaries and ties passed file descriptors
(SCM_RIGHTS) to the one message they travel with, so neither side needs
framing. Stdlib only: the daemon imports this.
"""

from __future__ import annotations

import array
import json
import os
import socket

TYPE_CHECKING = False  # not imported from typing: the daemon does without the typing module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

VERSION = 1
SOCKET_NAME = "logd.sock"
LOCK_NAME = "logd.lock"
MAX_MESSAGE = 256 * 1024
MAX_FDS = 200  # below the kernel's SCM_MAX_FD (253)
FDS_SPACE = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)


def socket_path(state_dir: str | Path) -> str:
    return os.path.join(state_dir, SOCKET_NAME)


def encode(msg: dict[str, Any]) -> bytes:
    data = json.dumps(msg, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"log daemon message too large ({len(data)} bytes)")
    return data


def send(sock: socket.socket, msg: dict[str, Any], fds: list[int] | None = None) -> None:
    """One message with its fds; raises BlockingIOError on a full non-blocking socket."""
    data = encode(msg)
    if fds:
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        sock.send(data)


def recv(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """One message and the fds that came with it; None at end of stream.

    Raises BlockingIOError when nothing is waiting, ValueError for a message
    that is not a JSON object (its fds are closed).
    """
    data, anc, flags, _ = sock.recvmsg(MAX_MESSAGE, FDS_SPACE, socket.MSG_CMSG_CLOEXEC)
    fds: list[int] = []
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(payload[: len(payload) - len(payload) % arr.itemsize])
            fds.extend(arr)
    if not data and not fds:
        return None
    try:
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise ValueError("truncated message")
        msg = json.loads(data)
        if not isinstance(msg, dict):
            raise ValueError("message is not an object")
    except ValueError:
        for fd in fds:
            os.close(fd)
        raise
    return msg, fds
