"""The shipped config/nats-server.conf: the fleet works through it, and a host cannot act as another."""

from __future__ import annotations

import asyncio
import os

import nats
import pytest

from core.actor import Actor, CommandContext
from core.clock import SystemClock
from core.fleet.codec import OutboxEvent, encode_event
from core.fleet.lease import Lease
from core.fleet.subjects import DISCORD_LEASE, EVT_STREAM, cmd_subject, outbox_subject
from core.reply import Reply
from tests.alert_fixtures import RecordingMessenger
from tests.fleet.shipped_server import shipped_nats_server  # noqa: F401  (as nats_server: the shipped config)
from tests.helpers import wait_for

ADMIN = CommandContext(Actor("slack", "U1", "ann"), channel="C1")
GRANTS = {"grants": [{"role": "admin", "users": ["U1"]}]}
ROUTE = {"route": [{"match": ["*"], "to": ["slack:CALERTS"]}]}


def as_user(user: str) -> dict:
    return {"cluster": {"user": user, "password_env": "NATS_PASSWORD"},
            "environ": {**os.environ, "NATS_PASSWORD": f"{user}-example-password"}}


async def member(make_member, host: str, role: str, **kwargs):
    creds = as_user(host)
    return await make_member(host, role=role, cluster=creds["cluster"], environ=creds["environ"],
                             permissions=GRANTS, alerts=ROUTE, alerting=True, **kwargs)


async def test_the_fleet_works_through_the_shipped_server_config(make_member):
    rec = RecordingMessenger("slack")
    _, front = await member(make_member, "front-1", "front", messengers={"slack": rec})
    host_app, _ = await member(make_member, "web-01", "host")
    await wait_for(lambda: "web-01" in front.liveness.names())

    reply = await front.commands.handle("status @web-01", ADMIN)
    assert reply.ok, reply.text

    await host_app.extensions[0].post("slack:CALERTS", Reply(title="from web-01", ephemeral=False), dedup_key="t1")
    await wait_for(lambda: any(m.reply.title == "from web-01" for m in rec.messages))


async def _quiet(_: Exception) -> None:
    pass


async def test_a_host_cannot_publish_events_as_another_host_nor_take_its_commands(make_member, nats_server):
    await member(make_member, "front-1", "front", messengers={"slack": RecordingMessenger("slack")})
    errors: list[str] = []

    async def record(e: Exception) -> None:
        errors.append(str(e))

    nc = await nats.connect(nats_server.url, user="web-01", password="web-01-example-password", error_cb=record)
    try:
        js = nc.jetstream()
        forged = OutboxEvent(msg_id="forged", host="web-02", destination="slack:CALERTS", action="post",
                             reply=Reply(title="forged"))
        with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
            await js.publish(outbox_subject("web-02"), encode_event(forged), timeout=1)
        await nc.subscribe(cmd_subject("web-02"))
        await nc.flush()
        await wait_for(lambda: any("permissions violation" in e.lower() for e in errors), timeout=5)
        with pytest.raises(nats.errors.Error):
            await nc.request(cmd_subject("web-02"), b"{}", timeout=1)
    finally:
        await nc.close()
    admin = await nats.connect(nats_server.url, user="front-1", password="front-1-example-password",
                               error_cb=_quiet)
    try:
        with pytest.raises(nats.js.errors.NotFoundError):
            await admin.jetstream().get_last_msg(EVT_STREAM, outbox_subject("web-02"))
    finally:
        await admin.close()


async def test_a_front_user_of_the_shipped_config_may_take_and_renew_the_discord_gateway_lease(nats_server):
    nc = await nats.connect(nats_server.url, user="front-1", password="front-1-example-password")
    lease = Lease(DISCORD_LEASE, "front-1", SystemClock(), ttl=1.0, interval=0.5)
    try:
        await lease.attach(nc)
        await lease.tick()  # a renewal: update on the revision

        assert lease.held
    finally:
        await lease.stop()
        await nc.close()
