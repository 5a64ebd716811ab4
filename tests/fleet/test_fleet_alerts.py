"""Alerts across the fleet: a host's outbox row reaches chat through the front exactly once."""

from __future__ import annotations

import os
import signal

from core.alerts.outbox import Outbox, envelope
from core.fleet.consumer import front_key
from core.fleet.publisher import OutboxRelay
from tests.alert_fixtures import RecordingMessenger, alert_program
from tests.helpers import wait_for

ROUTE = {"route": [{"match": ["*"], "to": ["slack:CALERTS"]}]}


async def front_and_host(make_member, **host_kwargs):
    rec = RecordingMessenger("slack")
    front_app, front = await make_member("front-1", role="front", alerting=True, alerts=ROUTE,
                                         messengers={"slack": rec})
    host_app, host = await make_member("host-3", alerting=True, alerts=ROUTE,
                                       programs=[alert_program("worker")], **host_kwargs)
    await wait_for(lambda: host_app.supervisor.state("worker").state.value == "running")
    return rec, front_app, front, host_app, host


def outbox_of(app) -> Outbox:
    outbox = app.extensions[0]  # install_extensions registers the outbox first
    assert isinstance(outbox, Outbox)
    return outbox


def crash_alerts(rec: RecordingMessenger) -> list:
    return [m for m in rec.top_level() if "worker" in m.reply.title]


async def test_a_crash_on_a_host_is_one_alert_at_the_front_naming_the_host(make_member):
    rec, front_app, _, host_app, _ = await front_and_host(make_member)

    os.kill(host_app.supervisor.state("worker").pid, signal.SIGKILL)
    await wait_for(lambda: len(crash_alerts(rec)) == 1, timeout=10)

    alert = crash_alerts(rec)[0].reply
    assert "host-3" in (alert.title + alert.text + str([f.value for f in alert.fields]))
    assert await outbox_of(host_app).drain(5) and await outbox_of(front_app).drain(5)
    assert len(crash_alerts(rec)) == 1


async def test_a_row_published_twice_is_stored_once_and_queued_once(make_member):
    """The kill -9 window: published and acked, then the host dies before marking the row delivered."""
    rec, _, front, host_app, _ = await front_and_host(make_member)
    relay = host_app.messengers["slack"]
    assert isinstance(relay, OutboxRelay)
    outbox = outbox_of(host_app)
    entry = await outbox.post("slack:CALERTS", _note("deploy started"), dedup_key="test:once")
    row = await outbox.store.get(entry)
    await wait_for(lambda: relay.published >= 1)

    again = await relay.forward(envelope(row))  # what the restarted host does with the unmarked row

    assert relay.duplicates == 1
    await wait_for(lambda: any(m.reply.title == "deploy started" for m in rec.messages))
    assert await front.consumer.outbox.store.by_key(front_key(again)) is not None
    assert [m.reply.title for m in rec.messages].count("deploy started") == 1


def _note(title: str):
    from core.reply import Reply

    return Reply(title=title, ephemeral=False)
