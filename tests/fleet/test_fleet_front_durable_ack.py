"""The front acks a host's alert only once it is on the front's disk.

A front whose registry runs from memory (its file locked, full or read-only) still
delivers, but must not ack: a kill -9 then would lose a row JetStream was told is
safe. Held unacked, the event is redelivered, and the dedup key keeps it to one alert.
"""

from __future__ import annotations

import os
import signal
import sqlite3

import nats

from core.fleet.consumer import FRONT_CONSUMER
from core.fleet.subjects import EVT_STREAM
from tests.fleet.test_fleet_alerts import crash_alerts, front_and_host, outbox_of
from tests.helpers import wait_for, wait_until_true


async def _unacked(url: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(EVT_STREAM, FRONT_CONSUMER)
        return info.num_ack_pending + info.num_pending
    finally:
        await nc.close()


async def test_a_front_running_from_memory_does_not_ack_a_hosts_alert_until_it_is_on_disk(
        make_member, nats_server, tmp_path):
    rec, front_app, front, host_app, _ = await front_and_host(make_member)
    lock = sqlite3.connect(front_app.config.state_dir / "procbot.db", timeout=10, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the front's writes now fail: its registry goes to memory
    try:
        os.kill(host_app.supervisor.state("worker").pid, signal.SIGKILL)
        await wait_for(lambda: len(crash_alerts(rec)) == 1, timeout=20)  # delivered from memory: never held back
        assert not front_app.registry.health.ok
        await wait_for(lambda: front.consumer.held >= 1, timeout=20)  # queued from memory: not acked
        assert await _unacked(nats_server.url) >= 1  # JetStream still holds it for redelivery
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    await wait_until_true(lambda: _unacked_is(nats_server.url, 0), timeout=20)  # acked once on disk
    assert front_app.registry.health.ok
    assert await outbox_of(front_app).drain(5)
    assert len(crash_alerts(rec)) == 1  # the redeliveries were absorbed by the dedup key


async def _unacked_is(url: str, n: int) -> bool:
    return await _unacked(url) == n
