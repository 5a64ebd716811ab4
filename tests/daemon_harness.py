"""Runs a real ``procbot run`` daemon as a subprocess for end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.process import procfs

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp: Path, body: str) -> Path:
    cfg = tmp / "procbot.toml"
    cfg.write_text(f'[procbot]\nstate_dir = "state"\nscan_interval = 0.5\nhost_name = "testhost"\n{body}')
    return cfg


def cli(cfg: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "-c", str(cfg), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env,
    )


def status_json(cfg: Path) -> dict[str, Any]:
    out = cli(cfg, "status", "--json")
    assert out.returncode == 0, out.stderr + out.stdout
    return {p["name"]: p for p in json.loads(out.stdout)["data"]["programs"]}


class Daemon:
    def __init__(self, cfg: Path, env: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self.log = open(cfg.parent / "daemon.out", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "-c", str(cfg)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )

    def wait_ready(self, programs: int, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.output()}")
            out = cli(self.cfg, "status", "--json")
            if out.returncode == 0:
                progs = {p["name"]: p for p in json.loads(out.stdout)["data"]["programs"]}
                if sum(1 for p in progs.values() if p["pid"]) >= programs:
                    return progs
            last = out.stderr
            time.sleep(0.1)
        raise AssertionError(f"daemon not ready: {last} {self.output()}")

    def output(self) -> str:
        return (self.cfg.parent / "daemon.out").read_text(errors="replace")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                self.kill_programs()  # they live in sessions of their own: killpg did not reach them
        self.log.close()
        return self.proc.returncode

    def kill_programs(self) -> None:
        """SIGKILL every program the daemon's registry still shows running (clean-up after a hung daemon)."""
        db = self.cfg.parent / "state" / "procbot.db"
        try:
            with sqlite3.connect(db, timeout=2) as conn:
                runs = conn.execute("SELECT pid, start_ticks FROM runs WHERE ended_at IS NULL").fetchall()
        except sqlite3.Error:
            return
        for pid, ticks in runs:
            if procfs.is_alive(pid, ticks):  # the same process, not a recycled pid
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
