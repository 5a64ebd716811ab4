"""signal, pid and clear (issue 11): real programs, the real log daemon, the dispatcher every surface uses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from core.actor import Actor, CommandContext
from core.commands.catalog import SIGNALS
from core.commands.grammar import parse
from core.errors import InvalidInput
from core.process.logs import log_path
from tests.conftest import sleeper
from tests.helpers import alive, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable

#: a program that says "HUP <n>" in its log for each SIGHUP, and "ready" once its handler is in place
HUP_COUNTER = [PY, "-c", (
    "import signal, time\n"
    "n = 0\n"
    "def hup(*_):\n"
    "    global n\n"
    "    n += 1\n"
    "    print('HUP', n, flush=True)\n"
    "signal.signal(signal.SIGHUP, hup)\n"
    "print('ready', flush=True)\n"
    "while True: time.sleep(3600)\n")]

#: a program that writes a numbered line every 20 ms, for ever
TICKER = [PY, "-c", "import itertools, time\nfor i in itertools.count():\n    print('tick', i, flush=True)\n"
          "    time.sleep(0.02)\n"]


def _cmdline(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def _ready(path: Path, text: str = "ready") -> bool:
    return path.exists() and text in path.read_text()


# -- signal ----------------------------------------------------------------

@pytest.mark.parametrize("word", ["HUP", "hup", "SIGHUP", "SigHup"])
def test_a_signal_is_named_with_or_without_sig_in_any_case(word):
    assert parse(f"signal web {word}").extra["signal"] == "HUP"


@pytest.mark.parametrize("word", ["HUPP", "SIGFOO", "9", "SIG", "-HUP"])
def test_a_signal_outside_the_declared_set_is_refused_naming_the_set(word):
    with pytest.raises(InvalidInput, match="|".join(["not a signal", "by name"])) as e:
        parse(f"signal web {word}")
    assert ", ".join(SIGNALS) in str(e.value)


async def test_signal_hup_reaches_the_program_which_keeps_running(make_app):
    app = await make_app([{"name": "web", "command": HUP_COUNTER}])
    path = log_path(app.config.log_dir, "web")
    await wait_for(lambda: _ready(path))
    pid = app.supervisor.state("web").pid
    reply = await app.dispatcher.handle("signal web HUP", CLI)
    assert reply.ok, reply.text
    assert f"pid {pid}" in reply.text
    await wait_for(lambda: "HUP 1" in path.read_text())
    assert app.supervisor.state("web").pid == pid and app.supervisor.state("web").state.is_up


async def test_signal_is_audited_with_the_words_typed(make_app):
    app = await make_app([{"name": "web", "command": HUP_COUNTER}])
    await wait_for(lambda: _ready(log_path(app.config.log_dir, "web")))
    await app.dispatcher.handle("signal web sighup", CLI)
    (row,) = await app.registry.audit_rows(1)
    assert (row.command, row.outcome) == ("signal web sighup", "ok")


async def test_an_unknown_signal_is_refused_audited_and_sends_nothing(make_app):
    app = await make_app([{"name": "web", "command": HUP_COUNTER}])
    path = log_path(app.config.log_dir, "web")
    await wait_for(lambda: _ready(path))
    reply = await app.dispatcher.handle("signal web HUPP", CLI)
    assert not reply.ok and reply.error_code == "invalid_input"
    assert "`HUPP` is not a signal procbot sends" in reply.text
    (row,) = await app.registry.audit_rows(1)
    assert (row.command, row.outcome) == ("signal web HUPP", "invalid")
    assert "HUP" not in path.read_text().replace("ready", "")


async def test_signalling_a_stopped_program_is_a_clear_error(make_app):
    app = await make_app([{"name": "job", "command": sleeper("sig-stopped"), "autostart": False}])
    reply = await app.dispatcher.handle("signal job TERM", CLI)
    assert not reply.ok
    assert "`job` is not running (state: stopped)" in reply.text
    (row,) = await app.registry.audit_rows(1)
    assert row.outcome == "error"


async def test_signal_to_a_group_reaches_each_main_process_and_a_chat_caller_confirms_first(make_app):
    progs = [{"name": f"w{i}", "command": HUP_COUNTER, "group": "workers"} for i in (1, 2)]
    app = await make_app(progs, permissions={"grants": [{"role": "operator", "platform": "slack", "users": ["U_OP"]}]})
    paths = [log_path(app.config.log_dir, p["name"]) for p in progs]
    for p in paths:
        await wait_for(lambda p=p: _ready(p))
    op = CommandContext(Actor("slack", "U_OP"), "C1")
    prompt = await app.dispatcher.handle("signal group:workers HUP", op)
    assert "confirm" in prompt.data and prompt.data["programs"] == ["w1", "w2"]
    reply = await app.dispatcher.press(f"confirm:{prompt.data['confirm']}", op)
    assert reply.ok, reply.text
    for p in paths:
        await wait_for(lambda p=p: "HUP 1" in p.read_text())


async def test_a_viewer_may_not_signal(make_app):
    app = await make_app([{"name": "web", "command": sleeper("sig-viewer")}], permissions={"default_role": "viewer"})
    pid = app.supervisor.state("web").pid
    reply = await app.dispatcher.handle("signal web KILL", CommandContext(Actor("slack", "U_V"), "C1"))
    assert not reply.ok and reply.error_code == "unauthorized"
    assert app.supervisor.state("web").pid == pid and alive(pid)


# -- pid -------------------------------------------------------------------

async def test_pid_gives_the_main_pid_of_the_real_process(make_app):
    app = await make_app([{"name": "web", "command": sleeper("pid-web")}])
    reply = await app.dispatcher.handle("pid web", CLI)
    pid = reply.data["pid"]
    assert reply.ok and reply.text.splitlines()[0] == str(pid)
    assert b"import time  # pid-web" in _cmdline(pid)[2]


async def test_pid_alone_gives_procbots_own(make_app):
    app = await make_app([])
    reply = await app.dispatcher.handle("pid", CLI)
    assert reply.ok and reply.data["pid"] == os.getpid()


async def test_pid_of_a_stopped_program_is_a_clear_error(make_app):
    app = await make_app([{"name": "job", "command": sleeper("pid-stopped"), "autostart": False}])
    reply = await app.dispatcher.handle("pid job", CLI)
    assert not reply.ok and reply.error_code == "not_running"
    assert "`job` is not running" in reply.text


# -- clear -----------------------------------------------------------------

async def test_clear_empties_the_log_while_the_program_keeps_writing_whole_lines(make_app):
    app = await make_app([{"name": "web", "command": TICKER}])
    path = log_path(app.config.log_dir, "web")
    await wait_for(lambda: _ready(path, "tick 20\n"))
    reply = await app.dispatcher.handle("clear web", CLI)
    assert reply.ok, reply.text
    assert reply.data["bytes"] > 0
    await wait_for(lambda: path.read_text().count("\n") >= 5)
    lines = path.read_text().splitlines()
    assert "tick 0" not in lines and "tick 20" not in lines  # what came before is gone
    numbers = [int(line.split()[1]) for line in lines]  # each line whole, none lost after the first
    assert all(line.split()[0] == "tick" for line in lines)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


async def test_clear_of_one_instance_empties_its_log_only(make_app):
    app = await make_app([{"name": "web", "command": TICKER, "instances": 2}])
    paths = [log_path(app.config.log_dir, f"web:{i}") for i in range(2)]
    for p in paths:
        await wait_for(lambda p=p: _ready(p, "tick 20\n"))
    reply = await app.dispatcher.handle("clear web:1", CLI)
    assert reply.ok, reply.text
    assert "tick 0" in paths[0].read_text().splitlines()  # web:0's log is untouched
    assert "tick 0" not in paths[1].read_text().splitlines()


async def test_clear_is_audited(make_app):
    app = await make_app([{"name": "web", "command": TICKER}])
    await wait_for(lambda: _ready(log_path(app.config.log_dir, "web"), "tick 1\n"))
    await app.dispatcher.handle("clear web", CLI)
    (row,) = await app.registry.audit_rows(1)
    assert (row.command, row.outcome) == ("clear web", "ok")


async def test_clear_removes_a_planted_symlink_and_never_touches_its_target(make_app, tmp_path):
    app = await make_app([{"name": "web", "command": sleeper("clear-link"), "autostart": False}])
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path = log_path(app.config.log_dir, "web")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(victim)
    reply = await app.dispatcher.handle("clear web", CLI)
    assert reply.ok, reply.text
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink()


async def test_clear_keeps_the_rotated_backups(make_app):
    burst = [PY, "-c", "import time\nfor i in range(100): print(f'line {i:04d}', '.' * 30, flush=True)\n"
             "print('done', flush=True)\ntime.sleep(3600)"]
    app = await make_app([{"name": "web", "command": burst, "log": {"max_bytes": 2048, "backups": 3}}])
    path = log_path(app.config.log_dir, "web")
    await wait_for(lambda: _ready(path, "done\n"))
    backup = path.with_name("web.log.1")
    before = backup.read_bytes()
    assert (await app.dispatcher.handle("clear web", CLI)).ok
    assert path.read_bytes() == b"" and backup.read_bytes() == before
