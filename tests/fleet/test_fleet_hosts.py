"""`/proc hosts`: every host a front has heard from, up or silent, with its version, programs,
failing programs and when it was last seen; a single host lists itself."""

from __future__ import annotations

import sys

from core.actor import Actor, CommandContext
from core.fleet.hosts import procbot_version
from tests.conftest import sleeper
from tests.helpers import wait_for

VIEWER = CommandContext(Actor("slack", "U1", "ann"), channel="C1")
VIEWER_GRANTS = {"grants": [{"role": "viewer", "users": ["U1"]}]}
CRASHER = {"name": "broken", "command": [sys.executable, "-c", "import sys; sys.exit(3)"],
           "backoff": {"initial": 0.01, "max": 0.01}, "give_up": {"failures": 1, "window": 60}}


def rows_by_host(reply) -> dict[str, dict[str, str]]:
    assert reply.table is not None, reply.text
    cols = reply.table.columns
    return {row[0]: dict(zip(cols, row, strict=True)) for row in reply.table.rows}


async def test_hosts_on_a_front_lists_two_live_hosts_and_a_stopped_one_as_silent_with_its_last_seen(make_member):
    _, front = await make_member("front-1", role="front", permissions=VIEWER_GRANTS,
                                 programs=[{"name": "web", "command": sleeper("hosts-front-web")}])
    host2_app, _ = await make_member("host-2", permissions=VIEWER_GRANTS,
                                     programs=[{"name": "api", "command": sleeper("hosts-h2-api")}, CRASHER])
    host3_app, _ = await make_member("host-3", permissions=VIEWER_GRANTS,
                                     programs=[{"name": "db", "command": sleeper("hosts-h3-db")}])
    await wait_for(lambda: host2_app.supervisor.state("broken").state.value == "fatal")
    await wait_for(lambda: (v := front.liveness.get("host-2")) is not None and v.heartbeat.failing == 1)
    await wait_for(lambda: "host-3" in front.liveness.names())
    await host3_app.stop()
    await wait_for(lambda: front.liveness.get("host-3").silent, timeout=front.settings.heartbeat_ttl + 2)

    reply = await front.commands.handle("hosts", VIEWER)

    assert reply.ok, reply.text
    rows = rows_by_host(reply)
    assert sorted(rows) == ["front-1 (front)", "host-2", "host-3"]
    assert [rows[h]["STATE"] for h in sorted(rows)] == ["up", "up", "silent"]
    assert rows["host-2"]["PROGRAMS"] == "2" and rows["host-2"]["FAILING"] == "1 (broken)"
    assert rows["host-3"]["PROGRAMS"] == "1" and rows["host-3"]["FAILING"] == "0"
    assert rows["host-3"]["LAST SEEN"].endswith(" ago")
    assert {r["VERSION"] for r in rows.values()} == {procbot_version() or "?"}
    assert "1 silent (host-3)" in reply.text


async def test_hosts_on_a_member_that_is_not_a_front_lists_itself_and_says_where_the_fleet_is(make_member):
    _, host = await make_member("host-2", permissions=VIEWER_GRANTS,
                                programs=[{"name": "api", "command": sleeper("hosts-member-api")}])

    reply = await host.commands.handle("hosts", VIEWER)

    assert list(rows_by_host(reply)) == ["host-2"]
    assert "a front lists the whole fleet" in reply.text


async def test_hosts_on_a_single_host_without_a_cluster_lists_just_this_host(make_app):
    app = await make_app([{"name": "web", "command": sleeper("hosts-single-web")}], permissions=VIEWER_GRANTS,
                         procbot={"host_name": "solo-1"})

    reply = await app.dispatcher.handle("hosts", VIEWER)

    assert reply.ok, reply.text
    rows = rows_by_host(reply)
    assert list(rows) == ["solo-1"]
    assert rows["solo-1"]["STATE"] == "up" and rows["solo-1"]["PROGRAMS"] == "1"
    assert rows["solo-1"]["LAST SEEN"] == "now"
