"""Several fronts with one Discord token: one gateway session, the others stand by and take over."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.daemon_harness import Daemon
from tests.fakes.discord_server import FakeDiscord
from tests.helpers import wait_for

TTL = 1.0  # make_member's heartbeat_ttl, which is the lease's


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


async def discord_front(make_member: Any, fake: FakeDiscord, host: str) -> tuple[Any, Any]:
    return await make_member(
        host, role="front", with_adapters=True, environ=dict(os.environ, DISCORD_TOKEN=fake.token),
        discord={"api_base": fake.api_base, "gateway_url": fake.gateway_url, "guilds": [fake.guild_id]})


async def test_two_fronts_with_one_discord_token_open_one_gateway_session_and_the_second_stands_by(
        make_member, fake_discord):
    _, first = await discord_front(make_member, fake_discord, "front-1")
    await wait_for(lambda: fake_discord.gateway_sessions == 1, timeout=10)
    second_app, second = await discord_front(make_member, fake_discord, "front-2")

    await wait_for(lambda: second.gateway.lease.held_by == "front-1", timeout=5)

    assert first.gateway.lease.held and not second.gateway.lease.held
    assert fake_discord.gateway_sessions == 1 and fake_discord.identifies == 1
    assert "discord: standing by (held by front-1)" in second_app.dispatcher.notes.status_notes()


async def test_when_the_holding_front_stops_the_standby_front_opens_the_gateway(make_member, fake_discord):
    first_app, _ = await discord_front(make_member, fake_discord, "front-1")
    await wait_for(lambda: fake_discord.gateway_sessions == 1, timeout=10)
    _, second = await discord_front(make_member, fake_discord, "front-2")
    await wait_for(lambda: second.gateway.lease.held_by == "front-1", timeout=5)

    await first_app.stop()

    await wait_for(lambda: second.gateway.lease.held and fake_discord.identifies == 2, timeout=TTL + 5)
    await second.app.messengers["discord"].wait_connected(10)
    assert fake_discord.gateway_sessions == 1 and fake_discord.most_sessions == 1


async def test_a_holding_front_cut_off_from_nats_closes_its_gateway_and_the_other_takes_over(
        make_member, fake_discord):
    first_app, first = await discord_front(make_member, fake_discord, "front-1")
    await wait_for(lambda: fake_discord.gateway_sessions == 1, timeout=10)
    _, second = await discord_front(make_member, fake_discord, "front-2")
    await wait_for(lambda: second.gateway.lease.held_by == "front-1", timeout=5)

    await first.link.nc.close()  # front-1 loses NATS for good; its process and gateway live on

    await wait_for(lambda: not first.gateway.lease.held, timeout=TTL + 2)
    await wait_for(lambda: second.gateway.lease.held and fake_discord.identifies == 2, timeout=TTL + 5)
    await second.app.messengers["discord"].wait_connected(10)
    assert not first_app.messengers["discord"].connected
    assert fake_discord.gateway_sessions == 1


async def test_kill_9_of_the_holding_front_daemon_hands_the_gateway_to_the_standby_front_within_the_ttl(
        make_member, fake_discord, nats_server, tmp_path):
    d = tmp_path / "front-1"
    d.mkdir()
    cfg = d / "procbot.toml"
    cfg.write_text(
        f'[procbot]\nstate_dir = "state"\nhost_name = "front-1"\nstop_programs_on_exit = true\n'
        f'[cluster]\nurl = "{nats_server.url}"\nrole = "front"\nheartbeat_interval = 0.2\nheartbeat_ttl = {TTL}\n'
        f'[discord]\napi_base = "{fake_discord.api_base}"\ngateway_url = "{fake_discord.gateway_url}"\n'
        f'guilds = ["{fake_discord.guild_id}"]\n')
    daemon = Daemon(cfg, env=dict(os.environ, DISCORD_TOKEN=fake_discord.token))
    try:
        await wait_for(lambda: fake_discord.gateway_sessions == 1 or daemon.proc.poll() is not None, timeout=30)
        assert daemon.proc.poll() is None, daemon.output()
        _, second = await discord_front(make_member, fake_discord, "front-2")
        await wait_for(lambda: second.gateway.lease.held_by == "front-1", timeout=5)
        assert fake_discord.identifies == 1

        daemon.kill9()

        await wait_for(lambda: second.gateway.lease.held and fake_discord.identifies == 2, timeout=TTL + 5)
        await second.app.messengers["discord"].wait_connected(10)
        assert fake_discord.gateway_sessions == 1
    finally:
        daemon.stop()
