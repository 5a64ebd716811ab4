"""Output too big for one chat message: cut to the platform's total, the whole of it uploaded as a file.

Slack refuses a message whose blocks add up to roughly 12-13k characters
(``msg_blocks_too_long``) although each block is within its own limit; the
fake Slack here enforces 12,000. Real slack-bolt and discord.py.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from core.process.logs import log_path
from tests.alert_fixtures import slack_alert_rig
from tests.conftest import sleeper
from tests.fakes.discord_harness import discord_procbot
from tests.fakes.slack_harness import slack_procbot
from tests.fakes.slack_server import blocks_text_size
from tests.helpers import wait_for

SLACK_TOTAL = 12_000
PY = sys.executable
PERMS = {"default_role": "viewer"}


async def wait_logged(app: Any, name: str, text: str) -> None:
    path = log_path(app.config.log_dir, name)
    await wait_for(lambda: path.exists() and text in path.read_text())


def idle(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "command": sleeper(name), "autostart": False, **extra}


def chatty(name: str, lines: int, width: int, *, then_crash: bool = False) -> dict[str, Any]:
    """Prints ``lines`` numbered lines ``width`` wide, then sleeps (or exits 1)."""
    end = "sys.exit(1)" if then_crash else "time.sleep(3600)"
    code = (f"import sys, time\nfor i in range({lines}): print(f'line {{i:04d}} ' + 'x' * {width}, flush=True)\n"
            f"{end}")
    return {"name": name, "command": [PY, "-c", code], "min_uptime": 30,
            "restart": "never" if then_crash else "on-failure", "autostart": not then_crash}


async def test_a_300_program_status_fits_slacks_total_and_the_whole_table_goes_to_the_askers_dm(make_app):
    programs = [idle(f"service-{i:03d}", group="fleet") for i in range(300)]
    async with slack_procbot(make_app, programs=programs, permissions=PERMS) as h:
        body = await h.command("status", user="U0VIEW")

        assert blocks_text_size(body["blocks"]) <= SLACK_TOTAL
        assert "more rows not shown" in str(body["blocks"])
        [upload] = h.fake.files
        assert upload.channel == "DU0VIEW"
        table = upload.content.decode()
        assert all(f"service-{i:03d}" in table for i in range(300))
        assert "direct messages" in str(body["blocks"])


async def test_an_alert_with_30_long_log_lines_is_accepted_by_slack_and_its_log_follows_in_the_thread(make_app):
    async with slack_alert_rig(make_app, [chatty("web", 30, 390, then_crash=True)]) as rig:
        rig.fake.blocks_text_limit = SLACK_TOTAL
        rig.app.config = dataclasses.replace(
            rig.app.config, alerts=dataclasses.replace(rig.app.config.alerts, log_lines=30))
        await rig.app.supervisor.runner("web").start("test")
        await rig.fake.wait_for(lambda: rig.fake.files, timeout=15)

        [alert] = [m for m in rig.fake.messages.values() if "web" in m.text]
        assert blocks_text_size(alert.blocks) <= SLACK_TOTAL
        assert "line 0029" in str(alert.blocks)  # the newest lines are the ones shown
        [log] = rig.fake.files
        assert log.thread_ts == alert.ts and log.channel == "CALERTS"
        assert all(f"line {i:04d}" in log.content.decode() for i in range(30))


async def test_proc_logs_web_500_on_slack_shows_the_newest_lines_and_uploads_all_500(make_app):
    async with slack_procbot(make_app, programs=[chatty("web", 500, 80)], permissions=PERMS) as h:
        await wait_for(lambda: h.app.supervisor.state("web").pid is not None)
        await wait_logged(h.app, "web", "line 0499")
        body = await h.command("logs web 500", user="U0VIEW")

        assert blocks_text_size(body["blocks"]) <= SLACK_TOTAL
        assert "line 0499" in str(body["blocks"])
        [upload] = h.fake.files
        lines = [ln for ln in upload.content.decode().splitlines() if ln.startswith("line ")]
        assert len(lines) == 500 and lines[0].startswith("line 0000")


async def test_proc_logs_web_500_on_discord_attaches_the_whole_log(make_app):
    async with discord_procbot(make_app, programs=[chatty("web", 500, 80)]) as h:
        await wait_for(lambda: h.app.supervisor.state("web").pid is not None)
        await wait_logged(h.app, "web", "line 0499")
        rec = await h.command("logs", {"program": "web", "lines": 500}, user=h.viewer)

        assert "line 0499" in rec.text()
        [upload] = h.fake.files
        assert upload["filename"].endswith(".txt")
        lines = [ln for ln in upload["content"].decode().splitlines() if ln.startswith("line ")]
        assert len(lines) == 500
        assert rec.last_message is not None and rec.last_message["attachments"]


async def test_if_slack_counts_lower_than_procbot_thinks_a_long_alert_is_sent_shorter_not_lost(make_app):
    async with slack_alert_rig(make_app, [chatty("web", 30, 390, then_crash=True)]) as rig:
        rig.fake.blocks_text_limit = 6_000  # stricter than the ~12k Slack enforces today
        rig.app.config = dataclasses.replace(
            rig.app.config, alerts=dataclasses.replace(rig.app.config.alerts, log_lines=30))
        await rig.app.supervisor.runner("web").start("test")
        await rig.fake.wait_for(lambda: rig.fake.files, timeout=15)

        [alert] = [m for m in rig.fake.messages.values() if "web" in m.text]
        assert blocks_text_size(alert.blocks) <= 6_000 and "line 0029" in str(alert.blocks)
        assert "line 0000" in rig.fake.files[0].content.decode()
