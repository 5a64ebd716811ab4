"""Instances from chat: `web:2` through real slack-bolt and real discord.py against the fake platforms."""

from __future__ import annotations

from typing import Any

from core.spec.instances import instance_name
from tests.adapters.slack.test_slack_commands import PERMS, all_text
from tests.conftest import sleeper
from tests.fakes.discord_harness import discord_procbot
from tests.fakes.slack_harness import slack_procbot
from tests.helpers import alive


def web(tag: str) -> dict[str, Any]:
    return {"name": "web", "instances": 3, "command": sleeper(tag), "min_uptime": 0.05}


async def test_slack_restarts_one_instance_by_its_name(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web("chat-inst-slack")], permissions=PERMS) as h:
        one, other = instance_name("web", 2), instance_name("web", 0)
        pid, other_pid = h.app.supervisor.state(one).pid, h.app.supervisor.state(other).pid
        body = await h.command(f"restart {one}")
        assert f"Restarted {one}" in all_text(body)
        assert not alive(pid) and alive(h.app.supervisor.state(one).pid)
        assert h.app.supervisor.state(other).pid == other_pid


async def test_discord_stops_one_instance_by_its_name(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[web("chat-inst-discord")]) as h:
        one = instance_name("web", 1)
        pid = h.app.supervisor.state(one).pid
        rec = await h.command("stop", {"target": one})
        assert f"Stopped {one}" in rec.text()
        assert not alive(pid)
        assert all(h.app.supervisor.state(instance_name("web", i)).state.is_up for i in (0, 2))
