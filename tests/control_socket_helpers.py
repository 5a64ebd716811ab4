"""Raw access to a real daemon's control socket and audit table, for the control-socket tests."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.daemon_harness import Daemon, write_config


def socket_of(cfg: Path) -> Path:
    return cfg.parent / "state" / "procbot.sock"


def read_frame(s: socket.socket) -> dict[str, Any] | None:
    """The daemon's one reply line, or None when the connection ended without one."""
    buf = b""
    while b"\n" not in buf:
        try:
            data = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not data:
            break
        buf += data
    line = buf.split(b"\n", 1)[0]
    return json.loads(line) if line.strip() else None


def raw_request(path: Path, payload: bytes, *, timeout: float = 20.0) -> dict[str, Any] | None:
    """Send raw bytes (not necessarily a valid request) and return the reply frame, if any."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may answer and close before reading everything (a request too long)
        return read_frame(s)
    finally:
        s.close()


def request(path: Path, command: str, **kw: Any) -> dict[str, Any] | None:
    return raw_request(path, json.dumps({"command": command}).encode() + b"\n", **kw)


def audit_rows(cfg: Path) -> list[dict[str, Any]]:
    """Every audit row, oldest first, read straight from the daemon's SQLite file."""
    with sqlite3.connect(cfg.parent / "state" / "procbot.db", timeout=10) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM audit ORDER BY id")]


def audit_count(cfg: Path) -> int:
    with sqlite3.connect(cfg.parent / "state" / "procbot.db", timeout=10) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0])


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes (a refusal is audited just after it is answered)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def one_program_daemon(tmp: Path) -> Iterator[Daemon]:
    """A real daemon with one long-running program, `web`, stopped afterwards."""
    cfg = write_config(tmp, f'''
[[program]]
name = "web"
command = ["{sys.executable}", "-c", "import time; time.sleep(3600)"]
''')
    d = Daemon(cfg)
    try:
        d.wait_ready(programs=1)
        yield d
    finally:
        d.stop()
