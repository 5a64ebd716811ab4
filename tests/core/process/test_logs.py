"""Program logs: tails, rotation by the log daemon, timestamps, stderr, secrets masked on the way out."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from core.actor import Actor, CommandContext
from core.logd.files import LogDir, LogFile, Settings
from core.process.logs import err_log_path, log_path, tail
from core.redact import mask_secrets
from tests.helpers import wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable
STAMP = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def _file(tmp_path: Path, **settings: object) -> LogFile:
    return LogFile(LogDir(str(tmp_path)), "p.log", Settings(**settings))  # type: ignore[arg-type]


async def test_logs_returns_the_last_lines_asked_for(make_app):
    cmd = [PY, "-c", "import time\nfor i in range(100): print('line', i, flush=True)\ntime.sleep(3600)"]
    app = await make_app([{"name": "chatty", "command": cmd}])
    path = log_path(app.config.log_dir, "chatty")
    await wait_for(lambda: path.exists() and "line 99" in path.read_text())
    reply = await app.dispatcher.handle("logs chatty 5", CLI)
    assert reply.code.splitlines() == [f"line {i}" for i in range(95, 100)]


async def test_stderr_goes_to_the_same_log(make_app):
    cmd = [PY, "-c", "import sys,time\nprint('boom', file=sys.stderr, flush=True)\ntime.sleep(3600)"]
    app = await make_app([{"name": "err", "command": cmd}])
    path = log_path(app.config.log_dir, "err")
    await wait_for(lambda: path.exists() and "boom" in path.read_text())


async def test_stderr_goes_to_its_own_file_when_stderr_file_is_on(make_app):
    cmd = [PY, "-c", "import sys,time\nprint('to out', flush=True)\nprint('to err', file=sys.stderr, flush=True)\n"
           "time.sleep(3600)"]
    app = await make_app([{"name": "split", "command": cmd, "log": {"stderr_file": True}}])
    out, err = log_path(app.config.log_dir, "split"), err_log_path(app.config.log_dir, "split")
    await wait_for(lambda: err.exists() and "to err" in err.read_text())
    await wait_for(lambda: out.exists() and "to out" in out.read_text())
    assert "to err" not in out.read_text() and "to out" not in err.read_text()


async def test_each_line_gets_a_utc_timestamp_when_timestamps_are_on(make_app):
    cmd = [PY, "-c", "import time\nprint('one', flush=True)\nprint('two\\nthree', flush=True)\ntime.sleep(3600)"]
    app = await make_app([{"name": "stamped", "command": cmd, "log": {"timestamps": True}}])
    path = log_path(app.config.log_dir, "stamped")
    await wait_for(lambda: path.exists() and b"three" in path.read_bytes())
    lines = path.read_bytes().splitlines()
    assert [STAMP.sub(b"", line) for line in lines] == [b"one", b"two", b"three"]
    assert all(STAMP.match(line) for line in lines)


async def test_an_unfinished_line_is_written_after_a_short_wait_and_stamped_once(make_app):
    cmd = [PY, "-c", "import sys, time\nsys.stdout.write('waiting for input'); sys.stdout.flush()\ntime.sleep(1.5)\n"
           "sys.stdout.write(' ... got it\\n'); sys.stdout.flush()\ntime.sleep(3600)"]
    app = await make_app([{"name": "prompt", "command": cmd, "log": {"timestamps": True}}])
    path = log_path(app.config.log_dir, "prompt")
    await wait_for(lambda: path.exists() and b"waiting for input" in path.read_bytes())
    assert b"got it" not in path.read_bytes()  # written before the line was finished
    await wait_for(lambda: b"got it" in path.read_bytes())
    [line] = path.read_bytes().splitlines()
    assert STAMP.match(line) and STAMP.sub(b"", line) == b"waiting for input ... got it"


async def test_secrets_in_log_lines_are_masked_in_replies(make_app):
    cmd = [PY, "-c", "import time\nprint('connecting with password=hunter2 token xoxb-1234567890-abcdef', flush=True)\n"
           "time.sleep(3600)"]
    app = await make_app([{"name": "leaky", "command": cmd}])
    path = log_path(app.config.log_dir, "leaky")
    await wait_for(lambda: path.exists() and "hunter2" in path.read_text())
    reply = await app.dispatcher.handle("logs leaky", CLI)
    assert "hunter2" not in reply.code
    assert "xoxb-1234567890" not in reply.code
    assert "password=****" in reply.code


def test_rotation_renames_the_file_and_keeps_the_configured_number_of_backups(tmp_path):
    log = _file(tmp_path, max_bytes=1024, backups=2)
    for gen in range(5):
        log.emit(f"generation {gen}\n".encode() * 78, 0.0)  # 1014 bytes: the next one does not fit
    assert (tmp_path / "p.log").read_text().startswith("generation 4")
    assert (tmp_path / "p.log.1").read_text().startswith("generation 3")
    assert (tmp_path / "p.log.2").read_text().startswith("generation 2")
    assert not (tmp_path / "p.log.3").exists()
    assert all(p.stat().st_size <= 1024 for p in tmp_path.iterdir())
    assert log.counters.rotations == 4


def test_a_line_longer_than_a_whole_file_is_split_across_files_not_lost(tmp_path):
    log = _file(tmp_path, max_bytes=1024, backups=3)
    log.emit(b"a" * 2500 + b"\n", 0.0)
    files = [tmp_path / n for n in ("p.log.2", "p.log.1", "p.log")]
    assert b"".join(p.read_bytes() for p in files) == b"a" * 2500 + b"\n"


def test_the_rate_limit_suppresses_lines_past_the_burst_counts_them_and_says_so(tmp_path):
    log = _file(tmp_path, rate_burst=10, rate_interval=30.0)
    for i in range(25):
        log.emit(f"line {i}\n".encode(), 100.0)
    log.emit(b"after the interval\n", 131.0)
    lines = (tmp_path / "p.log").read_text().splitlines()
    assert lines[:10] == [f"line {i}" for i in range(10)]
    assert "15 lines suppressed by the rate limit" in lines[10]
    assert lines[11] == "after the interval"
    assert log.counters.suppressed_lines == 15


async def test_info_shows_the_lines_the_log_daemon_wrote(make_app):
    cmd = [PY, "-c", "import time\nfor i in range(7): print('line', i, flush=True)\ntime.sleep(3600)"]
    app = await make_app([{"name": "counted", "command": cmd}])
    path = log_path(app.config.log_dir, "counted")
    await wait_for(lambda: path.exists() and "line 6" in path.read_text())
    reply = await app.dispatcher.handle("info counted", CLI)
    log_field = next(f for f in reply.fields if f.name == "Log")
    assert log_field.value.startswith("7 lines, 0 rotations")


def test_tail_reads_on_into_the_previous_file_just_after_a_rotation(tmp_path):
    (tmp_path / "p.log.1").write_text("".join(f"old {i}\n" for i in range(5)))
    (tmp_path / "p.log").write_text("new 0\n")
    assert tail(tmp_path / "p.log", 3) == ["old 3", "old 4", "new 0"]


def test_mask_secrets_leaves_ordinary_text_alone():
    assert mask_secrets("processed 42 jobs in 3s") == "processed 42 jobs in 3s"
    assert "s3cr3t" not in mask_secrets("postgres://app:s3cr3t@db/prod")


def test_tail_of_a_missing_file_is_empty(tmp_path):
    assert tail(tmp_path / "nope.log", 10) == []


async def test_a_crash_alert_includes_the_last_line_written_just_before_the_crash(make_app):
    from tests.alert_fixtures import alert_rig

    # a worker that ignores SIGTERM keeps the pipe open, so no end-of-file pushes the unfinished
    # last line out: only the flush the alert asks for does
    code = ("import os, signal, sys, time\nprint('up', flush=True)\n"
            "if os.fork() == 0:\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "    time.sleep(3)\n    os._exit(0)\n"
            "time.sleep(0.5)\nsys.stdout.write(''.join(f'busy {i}\\n' for i in range(3000)) + 'the last words')\n"
            "sys.stdout.flush()\nos._exit(3)")
    prog = {"name": "dying", "command": [PY, "-c", code], "restart": "never", "min_uptime": 0.1, "stop_timeout": 5}
    async with alert_rig(make_app, [prog]) as rig:
        await wait_for(lambda: rig.rec.messages, timeout=20)
        await rig.settle()
        assert (rig.rec.messages[0].current.code or "").splitlines()[-1] == "the last words"
