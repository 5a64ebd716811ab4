"""The fixture itself: a real server that comes back with what JetStream stored."""

from __future__ import annotations

import nats
import pytest

from bot.fleet.natsd import NatsServer


async def test_a_stream_written_before_a_restart_is_still_there_after_it(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.add_stream(name="T", subjects=["t.>"])
    await js.publish("t.one", b"kept")
    await nc.close()
    nats_server.restart()
    nc = await nats.connect(nats_server.url)
    msg = await nc.jetstream().get_last_msg("T", "t.one")
    await nc.close()
    assert msg.data == b"kept"


async def test_a_stopped_server_refuses_connections(nats_server: NatsServer) -> None:
    nats_server.stop()
    with pytest.raises(nats.errors.NoServersError):
        await nats.connect(nats_server.url, connect_timeout=0.5, max_reconnect_attempts=1, reconnect_time_wait=0.05,
                           error_cb=_quiet)


async def _quiet(_: Exception) -> None:
    """nats-py logs a traceback per failed attempt unless given an error callback."""
