"""The local CLI against a real daemon over its UNIX socket."""

from __future__ import annotations

import json
import stat
import sys
import time

import pytest

from tests.daemon_harness import Daemon, cli, status_json, write_config
from tests.helpers import alive

PY = sys.executable


@pytest.fixture
def daemon(tmp_path):
    body = f'''
[[program]]
name = "web"
command = ["{PY}", "-c", "import time\\nprint('hello from web', flush=True)\\ntime.sleep(3600)"]
group = "frontend"

[[program]]
name = "job"
command = ["{PY}", "-c", "import time; time.sleep(3600)"]
autostart = false
'''
    cfg = write_config(tmp_path, body)
    d = Daemon(cfg)
    try:
        d.wait_ready(programs=1)
        yield d
    finally:
        d.stop()  # also when it never became ready: no daemon (and no programs) left behind


def test_status_prints_a_supervisorctl_like_table(daemon):
    out = cli(daemon.cfg, "status")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("PROGRAM"))
    rows = {line.split()[0]: line.split() for line in lines[header + 1:]}
    assert rows["web"][1] in ("running", "starting")
    assert rows["job"][1] == "stopped"


def test_status_json_is_machine_readable(daemon):
    progs = status_json(daemon.cfg)
    assert alive(progs["web"]["pid"])
    assert progs["job"]["pid"] is None


def test_start_and_stop_change_the_process_table(daemon):
    assert cli(daemon.cfg, "start", "job").returncode == 0
    pid = status_json(daemon.cfg)["job"]["pid"]
    assert alive(pid)
    assert cli(daemon.cfg, "stop", "job").returncode == 0
    assert not alive(pid)


def test_cli_acts_on_several_programs_without_a_confirmation(daemon):
    out = cli(daemon.cfg, "restart", "all", "--json")
    reply = json.loads(out.stdout)
    assert out.returncode == 0
    assert {r["program"] for r in reply["data"]["results"]} == {"web", "job"}


def test_an_unknown_program_exits_1_with_a_message(daemon):
    out = cli(daemon.cfg, "restart", "wbe")
    assert out.returncode == 1
    assert "No program named `wbe`" in out.stdout and "web" in out.stdout


def test_logs_shows_program_output(daemon):
    # "ready" means web has a pid, not that python has got as far as printing: wait for the line itself
    log = daemon.cfg.parent / "state" / "logs" / "web.log"
    deadline = time.monotonic() + 10
    while not (log.exists() and "hello from web" in log.read_text()):
        assert time.monotonic() < deadline, "web never printed its greeting"
        time.sleep(0.05)
    out = cli(daemon.cfg, "logs", "web", "5")
    assert out.returncode == 0, out.stderr
    assert "hello from web" in out.stdout


def test_the_control_socket_is_owner_only(daemon):
    sock = daemon.cfg.parent / "state" / "procbot.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700


def test_cli_commands_are_audited_as_the_local_user(daemon):
    assert cli(daemon.cfg, "status").returncode == 0
    out = cli(daemon.cfg, "audit", "3", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["data"]["rows"]
    assert rows[1]["platform"] == "cli" and rows[1]["command"] == "status"


def test_a_second_daemon_on_the_same_state_refuses_to_start(daemon):
    import subprocess

    from tests.daemon_harness import ROOT

    out = subprocess.run([PY, "-m", "bot.cli", "run", "-c", str(daemon.cfg)], capture_output=True, text=True,
                         cwd=ROOT, timeout=30)
    assert out.returncode == 1
    assert "already running" in out.stderr


def test_without_a_daemon_the_cli_exits_3(tmp_path):
    cfg = write_config(tmp_path, "")
    out = cli(cfg, "status")
    assert out.returncode == 3
    assert "not running" in out.stderr


def test_the_config_is_found_through_procbot_config(daemon):
    import os

    env = {**os.environ, "PROCBOT_CONFIG": str(daemon.cfg)}
    import subprocess

    from tests.daemon_harness import ROOT

    out = subprocess.run([PY, "-m", "bot.cli", "status"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0 and "web" in out.stdout
