"""Case 1 of "Never two, never none": procbot killed between spawning a program and recording it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from tests.daemon_harness import ROOT, Daemon, cli, status_json
from tests.faults.identity_support import MODES, tagged_program, write_daemon_config
from tests.helpers import alive, kill_tagged, tagged_pids, unique_tag


def _wait(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.02)


@pytest.mark.parametrize("mode", MODES)
def test_a_restart_whose_run_row_never_commits_leaves_one_web_known_to_status_and_stop(tmp_path, mode):
    tag = unique_tag("lockheld")
    cfg = write_daemon_config(tmp_path, {"web": tagged_program(tag)}, mode)
    daemons = [Daemon(cfg)]
    restart: subprocess.Popen[bytes] | None = None
    try:
        old = daemons[0].wait_ready(programs=1)["web"]["pid"]
        # another process holds the write lock: no row procbot writes from now on can commit
        holder = sqlite3.connect(cfg.parent / "state" / "procbot.db", timeout=10, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        restart = subprocess.Popen([sys.executable, "-m", "bot.cli", "-c", str(cfg), "restart", "web"], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: not alive(old) and len(tagged_pids(tag)) == 1)  # the new web is spawned
        daemons[0].kill9()
        restart.kill()
        restart.wait()
        holder.execute("ROLLBACK")
        holder.close()

        daemons.append(Daemon(cfg))
        status = daemons[1].wait_ready(programs=1)
        live = tagged_pids(tag)
        assert len(live) == 1
        assert status["web"]["pid"] == live[0]
        assert status_json(cfg)["web"]["state"] in ("starting", "running")

        out = cli(cfg, "stop", "web")
        assert out.returncode == 0, out.stdout + out.stderr
        assert tagged_pids(tag) == []
    finally:
        if restart is not None and restart.poll() is None:
            restart.kill()
        for d in daemons:
            if d.proc.poll() is None:
                d.kill9()
        kill_tagged(tag)
