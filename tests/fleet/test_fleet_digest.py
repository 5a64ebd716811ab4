"""Fleet digests: a front's digest has a section from every host it knows, gathered by request/reply,
and names each host that gave none (did not answer in time, or is offline)."""

from __future__ import annotations

import nats

from core.fleet.codec import Heartbeat
from core.fleet.subjects import cmd_subject
from tests.alert_fixtures import RecordingMessenger
from tests.conftest import sleeper
from tests.helpers import wait_for

#: a cron time that does not come round during a test: only the test's own fire() posts it
FLEET_DIGEST = [{"name": "fleet", "cron": "0 0 1 1 *", "to": ["slack:CDIGEST"], "grace": 400 * 86400.0}]


def digests(rec: RecordingMessenger) -> list:
    return [m.reply for m in rec.top_level() if m.reply.data.get("kind") == "digest"]


async def fleet_of_three(make_member, rec: RecordingMessenger, tag: str):
    front_app, front = await make_member("front-1", role="front", alerting=True, messengers={"slack": rec},
                                         digest=FLEET_DIGEST,
                                         programs=[{"name": "web", "command": sleeper(f"{tag}-web")}])
    await make_member("host-2", alerting=True,
                      programs=[{"name": "api", "command": sleeper(f"{tag}-api")}])
    host3_app, _ = await make_member("host-3", alerting=True,
                                     programs=[{"name": "db", "command": sleeper(f"{tag}-db")}])
    await wait_for(lambda: {"host-2", "host-3"} <= set(front.liveness.names()))
    return front_app, front, host3_app


async def test_a_fleet_digest_has_every_hosts_section_and_names_a_host_that_did_not_answer(make_member, nats_server):
    rec = RecordingMessenger("slack")
    front_app, front, _ = await fleet_of_three(make_member, rec, "fd-sections")
    # db-1 heartbeats and takes its commands, but never answers one (a wedged host)
    wedged = await nats.connect(nats_server.url)
    try:
        async def never_answer(msg: object) -> None:
            pass

        await wedged.subscribe(cmd_subject("db-1"), cb=never_answer)
        now = front_app.clock.time()
        await front.liveness.seen(Heartbeat("db-1", now, now, programs=4, failing=0))

        assert await front_app.dispatcher.digests.fire("fleet")
        await wait_for(lambda: len(digests(rec)) == 1)
    finally:
        await wedged.close()

    digest = digests(rec)[0]
    assert digest.title == "Digest fleet for the fleet (4 hosts, 1 did not answer)"
    assert sorted((row[0], row[1]) for row in digest.table.rows) == [
        ("front-1", "web"), ("host-2", "api"), ("host-3", "db")]
    assert [f.name for f in digest.fields] == ["front-1", "host-2", "host-3", "db-1"]
    assert digest.fields[1].value.startswith("1 programs, 0 down")
    assert "db-1 did not answer within 2s." in digest.text
    assert digest.data["missing"] == {"db-1": "db-1 did not answer within 2s."}


async def test_a_fleet_digest_names_a_stopped_host_as_offline_with_its_last_seen(make_member):
    rec = RecordingMessenger("slack")
    front_app, _, host3_app = await fleet_of_three(make_member, rec, "fd-offline")
    await host3_app.stop()

    assert await front_app.dispatcher.digests.fire("fleet")
    await wait_for(lambda: len(digests(rec)) == 1)

    digest = digests(rec)[0]
    assert sorted({row[0] for row in digest.table.rows}) == ["front-1", "host-2"]
    assert digest.data["missing"]["host-3"].startswith("host-3 is offline (last seen ")
    assert "No section from host-3: host-3 is offline" in digest.text


async def test_a_front_alone_posts_the_single_host_digest(make_member):
    rec = RecordingMessenger("slack")
    front_app, _ = await make_member("front-1", role="front", alerting=True, messengers={"slack": rec},
                                     digest=FLEET_DIGEST, programs=[{"name": "web", "command": sleeper("fd-alone")}])

    assert await front_app.dispatcher.digests.fire("fleet")
    await wait_for(lambda: len(digests(rec)) == 1)

    assert digests(rec)[0].title == "Digest fleet for front-1"


async def test_with_two_fronts_a_scheduled_digest_is_posted_by_one_of_them(make_member):
    rec1, rec2 = RecordingMessenger("slack"), RecordingMessenger("slack")
    app1, front1 = await make_member("front-1", role="front", alerting=True, messengers={"slack": rec1},
                                     digest=FLEET_DIGEST)
    app2, front2 = await make_member("front-2", role="front", alerting=True, messengers={"slack": rec2},
                                     digest=FLEET_DIGEST)
    await wait_for(lambda: "front-1" in front2.liveness.names() and "front-2" in front1.liveness.names())

    assert not await app2.dispatcher.digests.fire("fleet")  # front-1 comes first: front-2 leaves it the post
    assert await app1.dispatcher.digests.fire("fleet")
    await wait_for(lambda: len(digests(rec1)) == 1)

    assert digests(rec2) == []
