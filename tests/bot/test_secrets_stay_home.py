"""Secrets never reach logs, SQLite, program environments or chat, even at DEBUG level."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.daemon_harness import Daemon, write_config
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.helpers import kill_tagged, unique_tag, wait_for

PY = sys.executable


async def test_a_daemon_connected_to_slack_keeps_its_tokens_out_of_every_file_and_message(tmp_path):
    tag = unique_tag("envdump")
    try:
        await _tokens_stay_home(tmp_path, tag)
    except BaseException:
        kill_tagged(tag)  # a daemon that failed to stop leaves its program behind: never beyond the test
        raise


async def _tokens_stay_home(tmp_path, tag: str) -> None:  # type: ignore[no-untyped-def]
    async with FakeSlack() as fake:
        body = f'''
[[program]]
name = "envdump"
command = ["{PY}", "-c", "import os, time\\nprint(sorted(os.environ.items()), flush=True)\\ntime.sleep(3600)  # {tag}"]

[permissions]
grants = [{{ role = "admin", platform = "slack", users = ["U0OP"] }}]

[slack]
api_url = "{fake.api_url}"
'''
        cfg = write_config(tmp_path, body)
        cfg.write_text(cfg.read_text().replace("[procbot]\n", '[procbot]\nlog_level = "DEBUG"\n'))
        env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
        daemon = Daemon(cfg, env=env)
        try:
            await asyncio.to_thread(daemon.wait_ready, 1)
            await fake.wait_socket(timeout=15)
            dump = tmp_path / "state" / "logs" / "envdump.log"
            await wait_for(lambda: dump.exists() and "PATH" in dump.read_text())  # its output is there to ask for
            replies = []
            for text in ("status", "info envdump", "logs envdump", "restart envdump", "audit"):
                envelope = await fake.slash_command(text, user_id="U0OP")
                await fake.wait_ack(envelope, timeout=10)
                replies.append(await fake.wait_response(envelope.response_url, timeout=10))
        finally:
            # the fake runs on this loop: wait in a thread so it can answer the daemon's goodbye
            assert await asyncio.to_thread(daemon.stop) == 0
    assert all("Error" not in str(r.get("text", ""))[:10] for r in replies)
    # every command really ran (a refusal or an error would have nothing to leak)
    assert "Status on" in replies[0]["text"] and "Restarted envdump" in replies[3]["text"]
    assert "PATH" in repr(replies[2])  # the program's environment dump itself went to chat
    chat = repr(replies) + repr([c.args for c in fake.calls_to("chat.postMessage")])
    files = [p for p in (tmp_path / "state").rglob("*") if p.is_file() and not p.name.endswith(".sock")]
    assert any(p.name == "procbot.log" for p in files)
    for secret in (BOT_TOKEN, APP_TOKEN):
        assert secret not in chat
        assert secret not in daemon.output()
        for p in files:
            assert secret.encode() not in p.read_bytes(), f"{secret[:8]}... leaked into {p}"
