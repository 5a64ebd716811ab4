"""Program log files: tails, copy-truncate rotation, secrets masked before leaving the host."""

from __future__ import annotations

import sys

from core.actor import Actor, CommandContext
from core.log_files import log_path, rotate_if_needed, tail
from core.redact import mask_secrets
from tests.helpers import wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable


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


def test_rotation_keeps_the_configured_number_of_backups(tmp_path):
    path = tmp_path / "p.log"
    for i in range(5):
        path.write_text(f"generation {i}\n" * 200)
        rotate_if_needed(path, max_bytes=1024, backups=2)
    assert path.read_text() == ""
    assert (tmp_path / "p.log.1").read_text().startswith("generation 4")
    assert (tmp_path / "p.log.2").read_text().startswith("generation 3")
    assert not (tmp_path / "p.log.3").exists()


async def test_a_child_keeps_writing_to_the_same_file_after_rotation(make_app):
    cmd = [PY, "-c", "import time\nfor i in range(10**6):\n    print(f'{i:07d} ' + 'x' * 100, flush=True)\n"
           "    time.sleep(0.01)"]
    # no background ticks: the rotations happen exactly at the scans this test asks for
    app = await make_app([{"name": "big", "command": cmd, "log": {"max_bytes": 2048, "backups": 1}}],
                         procbot={"tree_scan_every": 1, "scan_interval": 3600})
    path = log_path(app.config.log_dir, "big")
    backup = path.parent / "big.log.1"
    await wait_for(lambda: path.exists() and path.stat().st_size > 2048)
    await app.scanner.scan()
    await app.scanner.scan()  # a fresh pass: the first may have joined a tick that looked before the file grew
    assert backup.exists() and backup.stat().st_size > 2048

    rotated = [int(line.split()[0]) for line in backup.read_text().split("\n")[:-1]]
    live = b""

    def grown() -> bool:
        nonlocal live
        live = path.read_bytes()
        return live.count(b"\n") >= 3

    await wait_for(grown)
    # O_APPEND: no hole of NUL bytes where the old offset was, and the file starts over with newer lines
    assert b"\0" not in live
    assert int(live.split()[0]) > rotated[-1]
    assert rotated == list(range(rotated[0], rotated[-1] + 1))  # the copy holds whole, consecutive lines


def test_mask_secrets_leaves_ordinary_text_alone():
    assert mask_secrets("processed 42 jobs in 3s") == "processed 42 jobs in 3s"
    assert "s3cr3t" not in mask_secrets("postgres://app:s3cr3t@db/prod")


def test_tail_of_a_missing_file_is_empty(tmp_path):
    assert tail(tmp_path / "nope.log", 10) == []
