"""The Discord connection: resume, re-identify, bad tokens, outages, malformed events."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from adapters.base import Backoff
from adapters.discord.adapter import DiscordAdapter
from core.errors import DeliveryError
from core.reply import Reply
from core.spec import DiscordSettings
from tests.conftest import sleeper
from tests.fakes.discord_harness import discord_procbot
from tests.fakes.discord_server import FakeDiscord
from tests.helpers import alive, reserved_port, wait_for, wait_until_true

WEB = {"name": "web", "command": sleeper("web"), "min_uptime": 0.05}
FAST_RECONNECT = Backoff(initial=0.05)


async def test_a_command_sent_while_the_gateway_reconnects_is_answered_after_resume(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[WEB]) as h:
        h.fake.hold_gateway()
        await h.fake.drop_gateway()
        rec = await h.fake.command("status", user=h.viewer)
        assert not h.fake.gateway_connected and not rec.acked  # nobody could have seen it yet: kept for replay
        h.fake.release_gateway()
        await h.fake.wait_answered(rec, timeout=10)
        assert "Status on testhost" in rec.text()
        assert h.fake.resumes == 1 and h.fake.identifies == 1
        assert h.adapter.connected


async def test_a_refused_resume_leads_to_a_fresh_session(make_app: Any) -> None:
    # discord.py waits 5 s before re-identifying (Discord's identify rate limit), so this test is slow
    async with discord_procbot(make_app, programs=[WEB]) as h:
        h.fake.invalidate_session()
        await h.fake.drop_gateway()
        await h.fake.wait_until(lambda: h.fake.identifies == 2, timeout=10)
        rec = await h.command("status", user=h.viewer)
        assert rec.answered and h.adapter.connected


async def test_a_malformed_gateway_event_is_logged_and_the_adapter_reconnects(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with discord_procbot(make_app, programs=[WEB]) as h:
        h.adapter.backoff = FAST_RECONNECT
        broken = await h.fake.command("status", user=h.viewer, send=False)
        del broken.payload["attachment_size_limit"]  # discord.py reads it unconditionally
        await h.fake.dispatch("INTERACTION_CREATE", broken.payload)
        await h.fake.wait_until(lambda: h.fake.identifies >= 2, timeout=10)
        assert "Discord client stopped unexpectedly" in caplog.text
        await h.adapter.wait_connected(5)
        rec = await h.command("status", user=h.viewer)
        assert "Status on testhost" in rec.text()


async def test_a_rejected_token_is_logged_and_retried_without_crashing(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = await make_app([WEB])
    async with FakeDiscord() as fake:
        settings = DiscordSettings(api_base=fake.api_base, gateway_url=fake.gateway_url)
        adapter = DiscordAdapter(settings, app.dispatcher, "not-the-token", backoff=FAST_RECONNECT)
        await adapter.start()
        try:
            await wait_for(lambda: fake.requests.count(("GET", "/api/v10/users/@me")) >= 3, timeout=10)
            assert not adapter.connected
            assert "rejected the bot token" in caplog.text
            assert alive(app.supervisor.state("web").pid)
        finally:
            # a hang guard, not a speed check: stop must not wait for a login that will never succeed
            await asyncio.wait_for(adapter.stop(), 10)
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("discord-")]


async def test_start_returns_at_once_when_discord_is_down_and_connects_when_it_is_back(make_app: Any) -> None:
    app = await make_app([WEB])
    with reserved_port() as port:  # nothing listens there yet, and no one else is given the port
        settings = DiscordSettings(api_base=f"http://127.0.0.1:{port}/api/v10",
                                   gateway_url=f"ws://127.0.0.1:{port}/gateway")
        token = "fake-discord-token"
        adapter = DiscordAdapter(settings, app.dispatcher, token, backoff=FAST_RECONNECT)
        # while Discord is down start() cannot have connected, so if it waited for that it would never
        # return: the guard turns such a hang into a failure, without timing anything
        await asyncio.wait_for(adapter.start(), 10)
        try:
            assert not adapter.connected
            with pytest.raises(TimeoutError, match="discord adapter did not connect"):
                await adapter.wait_connected(0.3)
            async with FakeDiscord(port=port, token=token) as fake:
                await adapter.wait_connected(10)
                assert fake.identifies == 1
        finally:
            await adapter.stop()


async def test_stop_closes_the_client_and_leaves_no_adapter_tasks(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[WEB]) as h:
        await h.adapter.stop()
        assert not h.adapter.connected
        await h.fake.wait_until(lambda: not h.fake.gateway_connected, timeout=5)
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert not any(n.startswith("discord-") for n in names)


@pytest.fixture(autouse=True)
def _adapter_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="adapters.discord.adapter")


async def test_an_adapter_with_its_gateway_off_opens_no_session_syncs_no_commands_and_still_posts(
    make_app: Any,
) -> None:
    app = await make_app([WEB])
    async with FakeDiscord() as fake:
        settings = DiscordSettings(api_base=fake.api_base, gateway_url=fake.gateway_url, guilds=[fake.guild_id])
        adapter = DiscordAdapter(settings, app.dispatcher, fake.token, backoff=FAST_RECONNECT)
        adapter.gateway = False  # a standby front: REST only
        await adapter.start()
        try:
            async def posted() -> bool:
                try:
                    await adapter.post(fake.channel_id, Reply(title="web crashed", ephemeral=False))
                except DeliveryError:  # not logged in yet
                    return False
                return True

            await wait_until_true(posted)

            assert [m["embeds"][0]["title"] for m in fake.channel_messages[fake.channel_id]] == ["web crashed"]
            assert fake.identifies == 0 and fake.gateway_sessions == 0
            assert fake.sync_calls == [] and not adapter.connected
        finally:
            await adapter.stop()
