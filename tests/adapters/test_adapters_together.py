"""Slack and Discord configured together: one failing to connect holds back neither the other nor the supervisor."""

from __future__ import annotations

import os
from typing import Any

from tests.conftest import sleeper
from tests.fakes.discord_harness import PERMS
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.helpers import alive


async def test_slack_refusing_to_connect_leaves_discord_and_the_programs_working(make_app: Any) -> None:
    async with FakeSlack() as slack, FakeDiscord() as discord:
        slack.fail("auth.test", status=200, error="invalid_auth", times=10**6)
        env = dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN, DISCORD_TOKEN=discord.token)
        app = await make_app([{"name": "web", "command": sleeper("together-web")}], permissions=PERMS,
                             environ=env, with_adapters=True, slack={"api_url": slack.api_url},
                             discord={"api_base": discord.api_base, "gateway_url": discord.gateway_url,
                                      "guilds": [discord.guild_id]})
        try:
            assert {a.platform for a in app.adapters} == {"slack", "discord"}
            await app.messengers["discord"].wait_connected(10)  # type: ignore[attr-defined]

            rec = await discord.command("status", user=discord.user("victor"))
            await discord.wait_answered(rec, 10)
            assert "Status on testhost" in rec.text()

            # Slack is retried with backoff (the adapter's first wait is 1 s), not given up on
            await slack.wait_for(lambda: len(slack.calls_to("auth.test")) >= 2, timeout=10)
            assert not app.messengers["slack"].connected  # type: ignore[attr-defined]
            pid = app.supervisor.state("web").pid
            assert pid is not None and alive(pid)
            assert discord.gateway_connected and app.messengers["discord"].connected  # type: ignore[attr-defined]
        finally:
            await app.stop(stop_programs=True)
