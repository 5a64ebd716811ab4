"""Outbox lanes against the real discord.py client and the fake Discord: poison at a lane's head, an outage.

The Discord half of issue 8's outbox tests (the Slack half is tests/core/alerts/test_outbox_lanes.py):
a message Discord never accepts must not hold back the alerts queued after it on the same channel,
and an outage of 500s and then 429s followed by recovery delivers every alert exactly once.
``PROCBOT_OUTAGE_SECONDS`` (default 3) sets the outage's length, as in the Slack file.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from core.reply import Reply, Tone
from tests.alert_fixtures import alert_program, discord_alert_rig
from tests.fakes.discord_server import snowflake
from tests.helpers import wait_for

OUTAGE = float(os.environ.get("PROCBOT_OUTAGE_SECONDS", "3"))
MESSAGES = r"/channels/\d+/messages$"


def alert(title: str) -> Reply:
    return Reply(title=title, text="exit code 1", tone=Tone.ERROR, ephemeral=False)


def delivered(fake: Any, channel: str) -> list[str]:
    """Each delivered message of ``channel`` as one string (content and embeds)."""
    return [json.dumps([m["content"], m["embeds"]]) for m in fake.channel_messages.get(channel, [])]


async def test_a_message_discord_refuses_at_the_head_of_a_lane_does_not_hold_back_the_next_alert(make_app):
    async with discord_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        channel = rig.fake.channel_id
        rig.fake.poison("POISON-INVALID-FORM", status=400)
        await rig.alerting.outbox.post(f"discord:{channel}", alert("POISON-INVALID-FORM digest"))
        await wait_for(lambda: rig.app.supervisor.state("web").pid is not None)
        os.kill(rig.app.supervisor.state("web").pid or 0, 9)

        await rig.fake.wait_until(lambda: any("web crashed" in m for m in delivered(rig.fake, channel)), timeout=10)
        await wait_for(lambda: any("Invalid Form Body" in n for n in rig.alerting.outbox.status_notes()))
        assert not any("POISON" in m for m in delivered(rig.fake, channel))


async def test_a_message_that_always_fails_with_500_on_discord_does_not_hold_back_the_next_alert(make_app):
    async with discord_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        channel = rig.fake.channel_id
        rig.fake.poison("POISON-500", status=500)
        await rig.alerting.outbox.post(f"discord:{channel}", alert("POISON-500 status"))
        await wait_for(lambda: rig.app.supervisor.state("web").pid is not None)
        os.kill(rig.app.supervisor.state("web").pid or 0, 9)

        await rig.fake.wait_until(lambda: any("web crashed" in m for m in delivered(rig.fake, channel)), timeout=10)
        assert not any("POISON" in m for m in delivered(rig.fake, channel))


async def test_an_outage_of_500s_then_429s_then_recovery_delivers_every_alert_once_on_discord(make_app):
    async with discord_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        box = rig.alerting.outbox
        channels = (rig.fake.channel_id, snowflake())
        rig.fake.fail_next(500, 10**9, path=MESSAGES)
        titles = [f"alert {n} to {ch}" for n in range(6) for ch in channels]
        for n in range(6):
            for ch in channels:
                await box.post(f"discord:{ch}", alert(f"alert {n} to {ch}"), dedup_key=f"t:{n}:{ch}")
            await asyncio.sleep(OUTAGE / 12)
        rig.fake.stop_failing()
        rig.fake.fail_next(429, 10**9, path=MESSAGES, retry_after=1.0)
        await asyncio.sleep(OUTAGE / 2)
        assert rig.fake.channel_messages == {}
        rig.fake.stop_failing()  # Discord is back

        assert await box.drain(timeout=120 + 2 * OUTAGE)
        sent = [m["embeds"][0]["title"] for ch in channels for m in rig.fake.channel_messages.get(ch, [])]
        assert sorted(t for t in sent if t.startswith("alert")) == sorted(titles)
