"""Masking is the default wherever log text leaves the log file; ``--raw`` is for the local admin only."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

from core.actor import Actor, CommandContext
from core.process.logs import log_path
from tests.daemon_harness import ROOT, Daemon, cli, write_config
from tests.helpers import kill_tagged, unique_tag, wait_for

PY = sys.executable
SECRET = "Zq9xK2mV7pLw4RtY8nB3"
LINE = f"calling api with Authorization: Bearer {SECRET}"


def _program(tag: str) -> str:
    return f'''
[[program]]
name = "leaky"
command = ["{PY}", "-c", "import time\\nprint('{LINE}', flush=True)\\ntime.sleep(3600)  # {tag}"]
'''


def test_logs_json_and_follow_mask_secrets_unless_the_local_admin_asks_for_raw(tmp_path):
    tag = unique_tag("leaky")
    cfg = write_config(tmp_path, _program(tag))
    daemon = Daemon(cfg)
    try:
        daemon.wait_ready(1)
        logfile = tmp_path / "state" / "logs" / "leaky.log"
        deadline = time.monotonic() + 10
        while not (logfile.exists() and SECRET in logfile.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        plain = cli(cfg, "logs", "leaky")
        as_json = cli(cfg, "logs", "leaky", "--json")
        raw = cli(cfg, "logs", "leaky", "--json", "--raw")
        assert plain.returncode == as_json.returncode == raw.returncode == 0, (plain.stderr, raw.stderr)
        assert SECRET not in plain.stdout and "Bearer ****" in plain.stdout
        assert SECRET not in as_json.stdout
        assert json.loads(as_json.stdout)["data"]["lines"] == ["calling api with Authorization: Bearer ****"]
        assert json.loads(raw.stdout)["data"]["lines"] == [LINE]
        follow = subprocess.Popen([PY, "-m", "bot.cli", "-c", str(cfg), "logs", "leaky", "-f"], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # the tail printed means the follower holds the file open: what is appended next reaches it
            seen = _read_until(follow, "Bearer ****")
            with open(logfile, "a") as f:
                f.write(f"later: password={SECRET}\n")
            seen += _read_until(follow, "later:")
        finally:
            follow.terminate()
            follow.wait(10)
        assert "later: password=****" in seen and SECRET not in seen
    finally:
        assert daemon.stop() == 0
        kill_tagged(tag)


async def test_a_chat_user_cannot_ask_for_raw_log_lines(make_app):
    cmd = [PY, "-c", f"import time\nprint({LINE!r}, flush=True)\ntime.sleep(3600)"]
    app = await make_app([{"name": "leaky", "command": cmd}],
                         permissions={"grants": [{"role": "admin", "users": ["U1"]}]})
    path = log_path(app.config.log_dir, "leaky")
    await wait_for(lambda: path.exists() and SECRET in path.read_text())
    chat = CommandContext(Actor("slack", "U1"), channel="C1", raw=True)  # even if an adapter set it
    reply = await app.dispatcher.handle("logs leaky", chat)
    assert SECRET not in repr(reply.to_dict())
    local = await app.dispatcher.handle("logs leaky", CommandContext(Actor("cli", "root", local=True), raw=True))
    assert local.data["lines"] == [LINE]


PEM_BODY = ["b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz",
            "c2gtZWQyNTUxOQAAACDmFvZ2bp0bYgk3Dn1Gd4gk8Yk0VQ1n9f2J2KQe8nQ1yQAAAJgm"]


async def test_a_crash_alert_masks_a_bearer_token_and_a_private_key_spanning_lines(make_app):
    from tests.alert_fixtures import alert_rig, wait_logged

    dump = "\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *PEM_BODY, "-----END OPENSSH PRIVATE KEY-----", LINE])
    code = f"import time\nprint({dump!r}, flush=True)\ntime.sleep(3600)"
    prog = {"name": "leaky", "command": [PY, "-c", code], "min_uptime": 30}
    async with alert_rig(make_app, [prog]) as rig:
        await wait_logged(rig.app, "leaky", SECRET)
        await rig.kill("leaky")
        await wait_for(lambda: rig.rec.messages)
        block = rig.rec.messages[0].reply.code or ""
    assert "BEGIN OPENSSH PRIVATE KEY" in block and "Bearer ****" in block
    assert SECRET not in block and not any(body[8:40] in block for body in PEM_BODY)


def _read_until(proc: subprocess.Popen[bytes], text: str, timeout: float = 20.0) -> str:
    """What ``proc`` printed until ``text`` appeared (or the timeout passed), never blocking past it."""
    assert proc.stdout is not None
    fd, seen, deadline = proc.stdout.fileno(), b"", time.monotonic() + timeout
    while text.encode() not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
    return seen.decode(errors="replace")
