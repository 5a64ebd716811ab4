"""Logs keep flowing while procbot or the log daemon is down, and no program sees EPIPE."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from core.actor import Actor, CommandContext
from tests.daemon_harness import Daemon, status_json, write_config
from tests.faults.logs_programs import log_files, numbered_writer, numbers
from tests.helpers import alive, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))


def _last(log_dir: Path, program: str) -> int:
    got = numbers(log_dir / f"{program}.log")
    return got[-1] if got else -1


def _wait(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)


def _all_numbers(log_dir: Path, program: str) -> list[int]:
    return [n for f in log_files(log_dir, program) for n in numbers(f)]


def test_lines_keep_coming_while_procbot_is_killed_and_restarted_with_no_gap(tmp_path):
    marker = tmp_path / "epipe"
    argv = json.dumps(numbered_writer(rate=0, every=0.005, width=20, epipe_marker=marker))
    cfg = write_config(tmp_path, f'[[program]]\nname = "steady"\ncommand = {argv}\n')
    log_dir = tmp_path / "state" / "logs"
    first = Daemon(cfg)
    second = None
    try:
        pid = first.wait_ready(1)["steady"]["pid"]
        _wait(lambda: _last(log_dir, "steady") >= 20)
        first.kill9()
        at_kill = _last(log_dir, "steady")
        _wait(lambda: _last(log_dir, "steady") >= at_kill + 100)  # procbot is down: the log still grows
        second = Daemon(cfg)
        assert second.wait_ready(1)["steady"]["pid"] == pid  # adopted, not restarted
        resumed = _last(log_dir, "steady")
        _wait(lambda: _last(log_dir, "steady") >= resumed + 100)
        assert status_json(cfg)["steady"]["pid"] == pid
    finally:
        if second is not None:
            second.stop()
        else:
            first.kill_programs()
    assert not marker.exists(), marker.read_text() if marker.exists() else ""
    seq = _all_numbers(log_dir, "steady")
    assert seq == list(range(len(seq))), "lines are missing around procbot's restart"


def test_when_procbot_and_the_log_daemon_die_together_programs_get_epipe_and_the_next_procbot_restarts_them(
        tmp_path):
    marker = tmp_path / "epipe"
    argv = json.dumps(numbered_writer(rate=0, every=0.005, width=20, epipe_marker=marker))
    cfg = write_config(tmp_path, f'[[program]]\nname = "steady"\ncommand = {argv}\n')
    log = tmp_path / "state" / "logs" / "steady.log"
    first = Daemon(cfg)
    second = None
    try:
        pid = first.wait_ready(1)["steady"]["pid"]
        _wait(lambda: _last(log.parent, "steady") >= 20)
        logd = int((tmp_path / "state" / "logd.lock").read_text())
        first.kill9()
        os.kill(logd, signal.SIGKILL)
        _wait(marker.exists)  # no reader left: the next write fails with EPIPE, the program is not left blocked
        assert "Broken pipe" in marker.read_text()
        second = Daemon(cfg)
        second.wait_ready(1)
        _wait(lambda: status_json(cfg)["steady"]["pid"] not in (None, pid))
        size = log.stat().st_size
        _wait(lambda: log.stat().st_size > size + 1000)  # the replacement logs through a new daemon
    finally:
        if second is not None:
            second.stop()
        else:
            first.kill_programs()


async def test_a_killed_log_daemon_comes_back_and_the_program_keeps_logging_without_epipe(make_app, tmp_path):
    marker = tmp_path / "epipe"
    app = await make_app([{"name": "steady", "command": numbered_writer(rate=0, every=0.005, width=20,
                                                                           epipe_marker=marker)}])
    log_dir = app.config.log_dir
    program_pid = app.supervisor.state("steady").pid
    await wait_for(lambda: _last(log_dir, "steady") >= 20)
    old = app.logs.daemon_pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    await wait_for(lambda: app.logs.daemon_pid not in (None, old) and not app.logs.status_notes())
    resumed = _last(log_dir, "steady")
    await wait_for(lambda: _last(log_dir, "steady") >= resumed + 100)
    assert app.supervisor.state("steady").pid == program_pid
    assert not marker.exists()
    seq = _all_numbers(log_dir, "steady")
    assert seq == list(range(len(seq))), "lines written while the log daemon was down were lost"


async def test_the_log_daemon_exits_once_procbot_has_stopped_every_program(make_app):
    app = await make_app([{"name": "steady", "command": numbered_writer(rate=0, every=0.01, width=20)}])
    await wait_for(lambda: _last(app.config.log_dir, "steady") >= 5)
    daemon = app.logs.daemon_pid
    assert daemon is not None
    await app.stop(stop_programs=True)
    await wait_for(lambda: not alive(daemon), timeout=30)


async def test_when_the_log_daemon_cannot_start_programs_write_their_files_directly_and_status_says_so(
        make_app, tmp_path):
    app = await make_app([{"name": "plain", "command": numbered_writer(rate=0, every=0.01, width=20)}], start=False)
    app.logs.python = str(tmp_path / "no-such-python")
    await app.start()
    await wait_for(lambda: _last(app.config.log_dir, "plain") >= 5)
    status = await app.dispatcher.handle("status", CLI)
    assert "cannot start the log daemon" in status.text
