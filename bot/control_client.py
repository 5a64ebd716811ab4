"""The CLI's side of the control socket. Standard library only: the CLI must start fast."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

TIMEOUT = 60.0


class DaemonUnreachable(Exception):
    pass


def send(path: Path, command: str, timeout: float = TIMEOUT, raw: bool = False) -> dict[str, Any]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise DaemonUnreachable(f"procbot is not running (no daemon at {path}); start it with `procbot run`") \
                from None
        except PermissionError:
            raise DaemonUnreachable(f"permission denied for {path}: run as the user that runs procbot") from None
        s.sendall(json.dumps({"command": command, **({"raw": True} if raw else {})}).encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        s.close()
    if not chunks:
        raise DaemonUnreachable("the daemon closed the connection without answering")
    return json.loads(b"".join(chunks))
