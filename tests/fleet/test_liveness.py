"""Host liveness: a silent host is one incident, and its return is noted in that incident's thread."""

from __future__ import annotations

from tests.alert_fixtures import RecordingMessenger
from tests.helpers import wait_for

ROUTE = {"route": [{"match": ["*"], "to": ["slack:CALERTS"]}]}


def silent_alerts(rec: RecordingMessenger) -> list:
    return [m for m in rec.top_level() if m.reply.data.get("kind") == "host_silent"]


async def test_a_stopped_host_becomes_one_silent_incident_and_its_return_is_noted_in_the_thread(make_member):
    rec = RecordingMessenger("slack")
    _, front = await make_member("front-1", role="front", alerting=True, alerts=ROUTE, messengers={"slack": rec})
    host_app, _ = await make_member("host-3", alerting=True, alerts=ROUTE)
    await wait_for(lambda: "host-3" in front.liveness.names())

    await host_app.stop()
    ttl = front.settings.heartbeat_ttl
    await wait_for(lambda: len(silent_alerts(rec)) == 1, timeout=ttl + 2)
    alert = silent_alerts(rec)[0]
    assert alert.reply.title.startswith("host host-3 silent since")
    assert "last seen with 0 programs" in alert.reply.text

    await make_member("host-3", alerting=True, alerts=ROUTE)  # same state dir and name: the host returns
    await wait_for(lambda: len(rec.replies_to(alert.ref)) == 1, timeout=10)

    assert rec.replies_to(alert.ref)[0].reply.title == "host host-3 is back"
    assert alert.current.title.startswith("host host-3 was silent for")
    assert len(silent_alerts(rec)) == 1


async def test_a_front_cut_off_from_nats_does_not_call_every_host_silent(make_member, nats_server):
    rec = RecordingMessenger("slack")
    _, front = await make_member("front-1", role="front", alerting=True, alerts=ROUTE, messengers={"slack": rec})
    await make_member("host-2", alerting=True, alerts=ROUTE)
    await wait_for(lambda: "host-2" in front.liveness.names())

    nats_server.stop()
    await wait_for(lambda: not front.link.up)
    for _ in range(3):  # the TTL passes several times over while the front is cut off
        await front.liveness.check()
        front.liveness.get("host-2").seen_at -= front.settings.heartbeat_ttl
    nats_server.start()
    await wait_for(lambda: front.link.up, timeout=10)
    await front.liveness.check()

    assert not front.liveness.get("host-2").silent
    assert silent_alerts(rec) == []
