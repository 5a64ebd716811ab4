"""A real HTTP program for the health-check tests: it answers 503 while a "sick" file exists.

Run by procbot as a managed program (``http_program``), it is the thing being checked: the test
makes it sick by creating the file and well by removing it. With ``heal_on_start`` a fresh run
removes the file first, so a restart cures it (what a restart is for).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers import reserved_port

PY = sys.executable

SERVER = r'''
import http.server, os, sys, time
port, sick, heal = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "heal"
if heal and os.path.exists(sick):
    os.remove(sick)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hang":
            time.sleep(3600)
        self.send_response(503 if os.path.exists(sick) else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

print("serving", port, flush=True)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''


@contextmanager
def loopback_port() -> Iterator[int]:
    """A loopback port no one else is handed while the block runs (the program binds it with SO_REUSEADDR)."""
    with reserved_port() as port:
        yield port


def http_program(name: str, port: int, sick: Path, *, heal_on_start: bool = False, path: str = "/healthz",
                 interval: float = 0.1, timeout: float = 2.0, failures: int = 3, **extra: Any) -> dict[str, Any]:
    """A managed program serving HTTP on ``port`` with a health check against it.

    Its start period is long: refusals before the server listens do not count, and its first passing
    probe ends the period, so what fails after that counts at once (no timing in the tests).
    """
    health = {"http": f"http://127.0.0.1:{port}{path}", "interval": interval, "timeout": timeout,
              "failures": failures, "start_period": 60, **extra.pop("health", {})}
    return {"name": name, "command": [PY, "-c", SERVER, str(port), str(sick), "heal" if heal_on_start else "keep"],
            "min_uptime": 0.3, "backoff": {"initial": 0.05, "factor": 1.0, "max": 0.05}, "health": health, **extra}
