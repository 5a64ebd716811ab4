"""The local CLI against a real daemon over its UNIX socket."""

from __future__ import annotations

import json
import os
import pwd
import re
import stat
import sys
import time

import pytest

from bot.cli import EXIT_NO_DAEMON, EXIT_NO_SUCH_PROGRAM, EXIT_NOT_RUNNING, EXIT_USAGE
from bot.completion import HOST_COMMANDS
from core.commands.catalog import BY_NAME, VERBS, help_lines
from tests.control_socket_helpers import audit_rows
from tests.daemon_harness import Daemon, cli, status_json, write_config
from tests.helpers import alive

PY = sys.executable


BODY = f'''
[[program]]
name = "web"
command = ["{PY}", "-c", "import time\\nprint('hello from web', flush=True)\\ntime.sleep(3600)"]
group = "frontend"

[[program]]
name = "job"
command = ["{PY}", "-c", "import time; time.sleep(3600)"]
autostart = false
'''


def _daemon(tmp):
    d = Daemon(write_config(tmp, BODY))
    try:
        d.wait_ready(programs=1)
        yield d
    finally:
        d.stop()  # also when it never became ready: no daemon (and no programs) left behind


@pytest.fixture
def daemon(tmp_path):
    """A fresh daemon, for tests that change state or count rows."""
    yield from _daemon(tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One daemon for the tests that only read, so the module stays quick."""
    yield from _daemon(tmp_path_factory.mktemp("cli-shared"))


def test_status_prints_a_supervisorctl_like_table(shared):
    out = cli(shared.cfg, "status")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("PROGRAM"))
    rows = {line.split()[0]: line.split() for line in lines[header + 1:]}
    assert rows["web"][1] in ("running", "starting")
    assert rows["job"][1] == "stopped"


def test_status_json_is_machine_readable(shared):
    progs = status_json(shared.cfg)
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


def test_logs_shows_program_output(shared):
    # "ready" means web has a pid, not that python has got as far as printing: wait for the line itself
    log = shared.cfg.parent / "state" / "logs" / "web.log"
    deadline = time.monotonic() + 10
    while not (log.exists() and "hello from web" in log.read_text()):
        assert time.monotonic() < deadline, "web never printed its greeting"
        time.sleep(0.05)
    out = cli(shared.cfg, "logs", "web", "5")
    assert out.returncode == 0, out.stderr
    assert "hello from web" in out.stdout


def test_the_control_socket_is_owner_only(shared):
    sock = shared.cfg.parent / "state" / "procbot.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700


def test_cli_state_changes_are_audited_as_the_local_user(daemon):
    assert cli(daemon.cfg, "start", "job").returncode == 0
    rows = audit_rows(daemon.cfg)
    assert (rows[-1]["platform"], rows[-1]["command"], rows[-1]["outcome"]) == ("cli", "start job", "ok")
    assert rows[-1]["user_name"] == pwd.getpwuid(os.getuid()).pw_name


#: what a client call must not pay for at start-up (each is milliseconds; supervisorctl is the yardstick)
CLIENT_NEVER_IMPORTS = {"typing", "dataclasses", "inspect", "datetime", "zoneinfo", "argparse", "pydantic",
                        "core.commands.grammar", "core.errors", "core.reply", "adapters.text_render"}


def test_a_client_call_imports_only_the_socket_json_and_the_catalog(shared):
    code = ("import sys; from bot.cli import main; rc = main(['-c', sys.argv[1], 'status']); "
            "print('MODULES', ' '.join(sys.modules)); sys.exit(rc)")
    import subprocess

    from tests.daemon_harness import ROOT

    out = subprocess.run([PY, "-c", code, str(shared.cfg)], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.rsplit("MODULES ", 1)[1].split())
    assert "core.commands.catalog" in loaded and "socket" in loaded
    assert loaded & CLIENT_NEVER_IMPORTS == set()


def test_successful_local_read_only_calls_leave_no_audit_row(shared):
    before = audit_rows(shared.cfg)
    for verb in sorted(v.name for v in VERBS if v.read_only and v.min_words == 0):
        assert cli(shared.cfg, verb).returncode == 0, verb
    assert cli(shared.cfg, "info", "web").returncode == 0
    assert audit_rows(shared.cfg) == before


def test_a_failed_local_read_only_call_is_audited(shared):
    assert cli(shared.cfg, "info", "nosuch").returncode == 1
    row = audit_rows(shared.cfg)[-1]
    assert (row["command"], row["outcome"]) == ("info nosuch", "error")


def test_a_second_daemon_on_the_same_state_refuses_to_start(daemon):
    import subprocess

    from tests.daemon_harness import ROOT

    out = subprocess.run([PY, "-m", "bot.cli", "run", "-c", str(daemon.cfg)], capture_output=True, text=True,
                         cwd=ROOT, timeout=30)
    assert out.returncode == 1
    assert "already running" in out.stderr


def test_without_a_daemon_the_cli_exits_7_like_supervisorctl(tmp_path):
    cfg = write_config(tmp_path, "")
    out = cli(cfg, "status")
    assert out.returncode == EXIT_NO_DAEMON == 7
    assert "not running" in out.stderr


def test_the_config_is_found_through_procbot_config(shared):
    import os

    env = {**os.environ, "PROCBOT_CONFIG": str(shared.cfg)}
    import subprocess

    from tests.daemon_harness import ROOT

    out = subprocess.run([PY, "-m", "bot.cli", "status"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0 and "web" in out.stdout


# -- issue 8 case 11: help, --version, usage errors, status exit codes ------

def test_procbot_help_lists_every_verb_of_the_catalog_without_a_daemon(tmp_path):
    out = cli(write_config(tmp_path, ""), "help")
    assert out.returncode == 0, out.stderr
    for line in help_lines():
        assert line in out.stdout
    assert len(help_lines()) == len(VERBS)


def test_procbot_help_of_one_verb_shows_its_usage(tmp_path):
    out = cli(write_config(tmp_path, ""), "help", "restart")
    assert out.returncode == 0 and out.stdout.strip() == BY_NAME["restart"].usage


def test_the_cli_commands_are_the_catalog_verbs_and_the_host_only_ones(tmp_path):
    out = cli(write_config(tmp_path, ""), "--help")
    listed = re.findall(r"(?m)^    (\S+)", out.stdout)
    assert listed == [*HOST_COMMANDS, *(v.name for v in VERBS)]  # what shell completion offers, too
    for v in VERBS:
        assert re.search(rf"(?m)^    {v.name} +{re.escape(v.summary)}$", out.stdout), v.name


def test_procbot_version_prints_the_package_version(tmp_path):
    from importlib.metadata import version

    out = cli(write_config(tmp_path, ""), "--version")
    assert out.returncode == 0 and out.stdout.strip() == f"procbot {version('procbot')}"


@pytest.mark.parametrize("words", [("logs", "web", "lots"), ("frobnicate",), ("start",), ("silence", "web", "x")])
def test_a_usage_error_exits_2(shared, words):
    out = cli(shared.cfg, *words)
    assert out.returncode == EXIT_USAGE, out.stdout + out.stderr
    assert "Traceback" not in out.stderr


def test_status_of_a_running_program_exits_0(shared):
    assert cli(shared.cfg, "status", "web").returncode == 0


def test_status_of_a_stopped_program_exits_3_like_supervisorctl(shared):
    out = cli(shared.cfg, "status", "job")
    assert out.returncode == EXIT_NOT_RUNNING == 3
    assert "job" in out.stdout


def test_status_of_a_group_with_one_program_down_exits_3(daemon):
    assert cli(daemon.cfg, "stop", "web").returncode == 0
    assert cli(daemon.cfg, "status", "group:frontend").returncode == EXIT_NOT_RUNNING


def test_status_of_no_such_program_exits_4_like_supervisorctl(shared):
    out = cli(shared.cfg, "status", "nosuch")
    assert out.returncode == EXIT_NO_SUCH_PROGRAM == 4
    assert "No program named `nosuch`" in out.stdout


def test_bare_status_lists_everything_and_exits_0_even_with_programs_stopped(daemon):
    assert status_json(daemon.cfg)["job"]["state"] == "stopped"
    assert cli(daemon.cfg, "status").returncode == 0


# -- issue 8 case 19: audit filters and paging -------------------------------

def _audit_json(cfg, *words):
    out = cli(cfg, "audit", *words, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_audit_filters_by_outcome_and_program(daemon):
    cli(daemon.cfg, "start", "job")
    cli(daemon.cfg, "restart", "nosuch")
    cli(daemon.cfg, "stop", "job")
    refused = _audit_json(daemon.cfg, "outcome=error")["data"]["rows"]
    assert [r["command"] for r in refused] == ["restart nosuch"]
    job = _audit_json(daemon.cfg, "program=job")["data"]["rows"]
    assert [r["command"] for r in job] == ["stop job", "start job"]


def test_audit_filters_by_platform_user_and_since(daemon):
    cli(daemon.cfg, "start", "job")
    me = pwd.getpwuid(os.getuid()).pw_name
    assert _audit_json(daemon.cfg, "platform=slack")["data"]["rows"] == []
    assert [r["command"] for r in _audit_json(daemon.cfg, f"user={me}", "since=1h")["data"]["rows"]] == ["start job"]


def test_audit_pages_through_every_row_newest_first(daemon):
    for _ in range(3):
        cli(daemon.cfg, "restart", "job")
    first = _audit_json(daemon.cfg, "2")["data"]
    second = _audit_json(daemon.cfg, "2", "page=2")["data"]
    assert (first["total"], first["pages"], second["page"]) == (3, 2, 2)
    ids = [r["id"] for r in first["rows"] + second["rows"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    assert "page=2" in cli(daemon.cfg, "audit", "2").stdout  # the next page is named


@pytest.mark.parametrize(("word", "fragment"), [
    ("colour=red", "not an audit filter"), ("outcome=meh", "not an outcome"),
    ("since=forever", "not a duration"), ("page=0", "positive"),
])
def test_a_bad_audit_filter_is_a_usage_error(shared, word, fragment):
    out = cli(shared.cfg, "audit", word)
    assert out.returncode == EXIT_USAGE and fragment in out.stdout


@pytest.mark.parametrize("state_dir", ["~nosuchuser-procbot/x", "a\\u0000b"])
def test_a_client_command_with_an_unusable_state_dir_is_a_usage_error_without_a_traceback(tmp_path, state_dir):
    cfg = tmp_path / "procbot.toml"
    cfg.write_text(f'[procbot]\nstate_dir = "{state_dir}"\n')
    out = cli(cfg, "status")
    assert out.returncode == EXIT_USAGE
    assert "procbot.state_dir" in out.stderr and "Traceback" not in out.stderr


def test_dash_h_without_a_fleet_is_a_clear_usage_error(tmp_path):
    cfg = write_config(tmp_path, '[[program]]\nname = "nap"\ncommand = ["sleep", "3600"]\n')
    daemon = Daemon(cfg)
    try:
        daemon.wait_ready(1)
        out = cli(cfg, "-H", "web-02", "restart", "nap")
        assert out.returncode == 2
        assert "needs a fleet" in out.stdout + out.stderr
        assert status_json(cfg)["nap"]["restarts"] == 0  # nothing happened here
    finally:
        daemon.stop()
