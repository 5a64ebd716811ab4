"""A program configured with ``user``, ``umask``, ``extra_groups`` really runs so, and cannot touch procbot's files.

procbot runs as root here and the user ``nobody`` exists. The children are read from outside
(``/proc/<pid>/status``) or report what they could do in their own log.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.process.logs import log_path
from tests.helpers import unique_tag, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs procbot to run as root")

NOBODY = pwd.getpwnam("nobody") if os.geteuid() == 0 else None


def python_for_nobody() -> str:
    """An interpreter ``nobody`` can run (this venv's may live under root's 0700 home)."""
    for cand in (sys.executable, "/usr/bin/python3"):
        try:
            if subprocess.run([cand, "-c", "pass"], user="nobody", capture_output=True).returncode == 0:
                return cand
        except PermissionError:
            continue
    pytest.skip("no python interpreter that nobody may run")


def status_fields(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder everyone may traverse (pytest's tmp is under a 0700 folder, which would hide a mistake)."""
    d = Path(tempfile.mkdtemp(prefix="procbot-runas-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


async def test_a_program_with_user_runs_with_that_users_uid_and_gid(make_app, open_dir):
    app = await make_app([{"name": "web", "command": ["/bin/sleep", "3600"], "user": "nobody"}],
                         state_dir=open_dir / "state")
    await wait_for(lambda: app.supervisor.state("web").pid is not None)
    status = status_fields(app.supervisor.state("web").pid)
    assert status["Uid"].split() == [str(NOBODY.pw_uid)] * 4
    assert status["Gid"].split() == [str(NOBODY.pw_gid)] * 4


async def test_a_program_with_user_alone_gets_the_users_groups_not_procbots(make_app, open_dir):
    app = await make_app([{"name": "web", "command": ["/bin/sleep", "3600"], "user": "nobody"}],
                         state_dir=open_dir / "state")
    await wait_for(lambda: app.supervisor.state("web").pid is not None)
    groups = {int(g) for g in status_fields(app.supervisor.state("web").pid)["Groups"].split()}
    assert groups == set(os.getgrouplist("nobody", NOBODY.pw_gid))
    assert 0 not in groups


async def test_extra_groups_are_the_childs_supplementary_groups(make_app, open_dir):
    app = await make_app([{"name": "web", "command": ["/bin/sleep", "3600"], "user": "nobody",
                           "extra_groups": ["daemon", "users"]}], state_dir=open_dir / "state")
    await wait_for(lambda: app.supervisor.state("web").pid is not None)
    groups = {int(g) for g in status_fields(app.supervisor.state("web").pid)["Groups"].split()}
    assert groups == {grp.getgrnam("daemon").gr_gid, grp.getgrnam("users").gr_gid}


async def test_user_group_replaces_the_users_primary_group(make_app, open_dir):
    app = await make_app([{"name": "web", "command": ["/bin/sleep", "3600"], "user": "nobody",
                           "user_group": "daemon"}], state_dir=open_dir / "state")
    await wait_for(lambda: app.supervisor.state("web").pid is not None)
    gid = str(grp.getgrnam("daemon").gr_gid)
    assert status_fields(app.supervisor.state("web").pid)["Gid"].split() == [gid] * 4


async def test_the_umask_is_the_childs(make_app, open_dir):
    app = await make_app([{"name": "web", "command": ["/bin/sleep", "3600"], "umask": "0027"}],
                         state_dir=open_dir / "state")
    await wait_for(lambda: app.supervisor.state("web").pid is not None)
    assert status_fields(app.supervisor.state("web").pid)["Umask"] == "0027"


async def test_a_program_running_as_nobody_cannot_write_procbots_state_dir_registry_or_logs(make_app, open_dir):
    tag = unique_tag("cannot-write")
    state = open_dir / "state"
    probe = (
        "import errno, json, os, sys\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))\n"
        "        out[p] = 'written'\n"
        "    except OSError as e:\n"
        "        out[p] = errno.errorcode[e.errno]\n"
        f"print(json.dumps(out), flush=True)  # {tag}\n"
    )
    targets = [str(state / "planted"), str(state / "procbot.db"), str(state / "logs" / "probe.log")]
    app = await make_app([{"name": "probe", "command": [python_for_nobody(), "-c", probe, *targets],
                           "user": "nobody", "restart": "never", "cwd": str(open_dir)}], state_dir=state)
    path = log_path(app.config.log_dir, "probe")
    await wait_for(lambda: path.exists() and path.read_text().strip() != "")
    assert json.loads(path.read_text().splitlines()[0]) == dict.fromkeys(targets, "EACCES")
    assert (state.stat().st_mode & 0o777) == 0o700
    assert not (state / "planted").exists()


async def test_a_program_running_as_nobody_still_gets_its_output_logged(make_app, open_dir):
    tag = unique_tag("logged")
    app = await make_app([{"name": "echo", "command": ["/bin/echo", tag], "user": "nobody", "restart": "never"}],
                         state_dir=open_dir / "state")
    path = log_path(app.config.log_dir, "echo")
    await wait_for(lambda: path.exists() and tag in path.read_text())


async def test_without_the_log_daemon_a_program_running_as_nobody_still_writes_its_log(make_app, open_dir):
    """The fallback opens the log file in procbot (root) and hands the child the open descriptor."""
    from core.actor import Actor, CommandContext
    from core.logd.client import DirectFiles

    tag = unique_tag("direct")
    app = await make_app([{"name": "echo", "command": ["/bin/echo", tag], "user": "nobody", "restart": "never",
                           "autostart": False}], state_dir=open_dir / "state")
    app.supervisor.runners["echo"].logs = DirectFiles(app.config.log_dir)
    assert (await app.dispatcher.handle("start echo", CommandContext(Actor("cli", "tester", local=True)))).ok
    path = log_path(app.config.log_dir, "echo")
    await wait_for(lambda: path.exists() and tag in path.read_text())


async def test_a_user_that_does_not_exist_is_a_spawn_error_naming_it(make_app, open_dir):
    app = await make_app([{"name": "web", "command": ["/bin/sleep", "3600"], "user": "no-such-user-x"}],
                         state_dir=open_dir / "state")
    await wait_for(lambda: "no-such-user-x" in app.supervisor.state("web").message)
    assert app.supervisor.state("web").pid is None
    assert "no such user 'no-such-user-x'" in app.supervisor.state("web").message


async def test_info_says_whom_the_program_runs_as(make_app, open_dir):
    from core.actor import Actor, CommandContext

    app = await make_app([{"name": "web", "command": ["/bin/sleep", "3600"], "user": "nobody", "umask": 0o027}],
                         state_dir=open_dir / "state")
    reply = await app.dispatcher.handle("info web", CommandContext(Actor("cli", "tester", local=True)))
    runs_as = next(f.value for f in reply.fields if f.name == "Runs as")
    assert runs_as.startswith(f"user nobody (uid {NOBODY.pw_uid}); group ")
    assert runs_as.endswith("; umask 0027")
