"""The shipped config/nats-server.conf is what lets a host trust the front's decision: only a front may
send a command, so no host can forge one (with any decision) for another host or for itself."""

from __future__ import annotations

import json
import os

import nats
import pytest

from core.actor import Actor, CommandContext
from core.fleet.subjects import cmd_subject
from tests.conftest import sleeper
from tests.fleet.shipped_server import shipped_nats_server  # noqa: F401  (as nats_server: the shipped config)
from tests.helpers import wait_for

GRANTS = {"grants": [{"role": "admin", "users": ["U1"]}]}
FORGED = json.dumps({"v": 1, "kind": "handle", "text": "restart web", "channel": "C1",
                     "actor": {"platform": "slack", "user_id": "U9", "display_name": "mallory"},
                     "decision": {"role": "admin", "scoped": []}}).encode()


async def member(make_member, host: str, role: str, **kwargs):
    return await make_member(host, role=role, cluster={"user": host, "password_env": "NATS_PASSWORD"},
                             environ={**os.environ, "NATS_PASSWORD": f"{host}-example-password"},
                             permissions=GRANTS, **kwargs)


@pytest.mark.parametrize("target", ["web-01", "web-02"])
async def test_a_host_cannot_send_a_command_with_a_forged_decision_to_any_host(make_member, nats_server, target):
    app, node = await member(make_member, target, "host", programs=[{"name": "web", "command": sleeper(target)}])
    before = app.supervisor.state("web").pid
    errors: list[str] = []

    async def record(e: Exception) -> None:
        errors.append(str(e))

    nc = await nats.connect(nats_server.url, user="web-01", password="web-01-example-password", error_cb=record)
    try:
        await nc.publish(cmd_subject(target), FORGED, reply="_INBOX.forged")
        await nc.flush()
        await wait_for(lambda: any("permissions violation" in e.lower() for e in errors), timeout=5)
    finally:
        await nc.close()

    assert node.service.answered == 0
    assert app.supervisor.state("web").pid == before


async def test_the_front_sends_commands_through_the_shipped_config(make_member):
    _, front = await member(make_member, "front-1", "front")
    app, _ = await member(make_member, "web-01", "host", programs=[{"name": "web", "command": sleeper("w1")}])
    await wait_for(lambda: "web-01" in front.liveness.names())
    before = app.supervisor.state("web").pid

    reply = await front.commands.handle("restart web@web-01", CommandContext(Actor("slack", "U1", "ann"), "C1"))

    assert reply.ok, reply.text
    assert app.supervisor.state("web").pid != before


async def test_a_host_cannot_read_the_replies_other_hosts_send_the_front(make_member, nats_server):
    await member(make_member, "front-1", "front")
    errors: list[str] = []

    async def record(e: Exception) -> None:
        errors.append(str(e))

    nc = await nats.connect(nats_server.url, user="web-01", password="web-01-example-password", error_cb=record,
                            inbox_prefix="_INBOX.web-01")
    try:
        await nc.subscribe("_INBOX.front-1.>")
        await nc.flush()
        await wait_for(lambda: any("permissions violation" in e.lower() for e in errors), timeout=5)
    finally:
        await nc.close()
