"""The broker goes away: local supervision goes on, alerts wait in the host's outbox and arrive once."""

from __future__ import annotations

import os
import signal

from tests.alert_fixtures import RecordingMessenger, alert_program
from tests.fleet.test_fleet_alerts import outbox_of
from tests.helpers import wait_for, wait_until_true

ROUTE = {"route": [{"match": ["*"], "to": ["slack:CALERTS"]}]}


async def _pending(app) -> bool:
    return await outbox_of(app).store.pending_count() >= 1


def crashes(rec: RecordingMessenger) -> list:
    """Top-level alerts about worker: one per incident. A message queued during an outage goes out
    with its newest state (queued edits coalesce), so it may already say "recovered"."""
    return [m for m in rec.top_level()
            if m.reply.data.get("kind") == "alert" and m.reply.data.get("program") == "worker"]


async def test_a_crash_during_a_broker_outage_is_alerted_once_when_the_broker_returns(make_member, nats_server):
    rec = RecordingMessenger("slack")
    front_app, _ = await make_member("front-1", role="front", alerting=True, alerts=ROUTE, messengers={"slack": rec})
    host_app, host = await make_member("host-2", alerting=True, alerts=ROUTE, programs=[alert_program("worker")])
    worker = host_app.supervisor.state("worker")
    await wait_for(lambda: worker.state.value == "running")
    first = worker.pid

    nats_server.stop()
    await wait_for(lambda: not host.link.up)
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: worker.state.value == "running" and worker.pid != first)  # supervision goes on
    await wait_until_true(lambda: _pending(host_app))  # the alert waits in the host's own outbox
    assert any(n.startswith("fleet link down") for n in host_app.dispatcher.notes.status_notes())
    assert crashes(rec) == []

    nats_server.start()  # JetStream comes back with its store: the stream and the durable consumer
    await wait_for(lambda: host_app.messengers["slack"].published >= 1, timeout=15)
    await wait_for(lambda: len(crashes(rec)) == 1, timeout=15)

    assert await outbox_of(host_app).drain(5) and await outbox_of(front_app).drain(5)
    assert len(crashes(rec)) == 1
    assert "on host-2" in crashes(rec)[0].reply.title


async def test_alerts_stored_by_jetstream_survive_a_broker_restart_before_the_front_takes_them(make_member,
                                                                                             nats_server):
    host_app, _ = await make_member("host-2", alerting=True, alerts=ROUTE, programs=[alert_program("worker")])
    worker = host_app.supervisor.state("worker")
    await wait_for(lambda: worker.state.value == "running")
    os.kill(worker.pid, signal.SIGKILL)
    relay = host_app.messengers["slack"]
    await wait_for(lambda: relay.published >= 1)  # stored by JetStream (PubAck), no front yet

    nats_server.restart()
    rec = RecordingMessenger("slack")
    await make_member("front-1", role="front", alerting=True, alerts=ROUTE, messengers={"slack": rec})
    await wait_for(lambda: len(crashes(rec)) == 1, timeout=15)

    assert len(crashes(rec)) == 1
