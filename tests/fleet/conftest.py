"""Fixtures of the fleet tests: a real nats-server with JetStream on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.extensions import install_extensions
from bot.fleet.install import install_fleet
from bot.fleet.natsd import NatsServer
from bot.fleet.node import FleetNode
from tests.conftest import MakeApp


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A started nats-server (JetStream, store in tmp_path); stopped at teardown whatever the test did."""
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


MakeMember = Callable[..., Awaitable[tuple[App, FleetNode]]]


@pytest.fixture
async def make_member(nats_server: NatsServer, make_app: MakeApp, tmp_path: Path) -> AsyncIterator[MakeMember]:
    """``await make_member("host-2", programs=[...], role="host")`` -> (started App, its FleetNode).

    Each member has its own state directory and host name, like a separate machine; its link
    to the real nats-server is up when this returns. ``alerting=True`` installs the alert
    outbox too (and, on a host, its relay to the front); ``messengers`` stand in for chat
    platforms on a front (the fleet under test is NATS; the last hop to chat, the front's real
    slack-bolt client against the fake Slack, is tests/fleet/test_fleet_slack_front.py).
    """

    async def factory(host: str, *, role: str = "host", alerting: bool = False, cluster: dict[str, Any] | None = None,
                      connect: bool = True, messengers: dict[str, Any] | None = None,
                      **kwargs: Any) -> tuple[App, FleetNode]:
        # App.host is procbot.host_name today; after the merge it is fleet_host(config) (see the report)
        app = await make_app(state_dir=tmp_path / host, start=False, procbot={"host_name": host},
                             cluster={"url": nats_server.url, "host": host, "role": role,
                                      "heartbeat_interval": 0.2, "heartbeat_ttl": 1.0, "request_timeout": 2.0,
                                      **(cluster or {})},
                             **kwargs)
        app.messengers.update(messengers or {})
        node = install_fleet(app, alerting=install_extensions(app, outbox_backoff=0.05) if alerting else None,
                             reconnect_wait=0.1, check_every=0.05)
        await app.start()
        if connect:
            assert await node.link.wait_connected(10), "the fleet link did not come up"
        return app, node

    yield factory
