"""Outbox lanes against the real slack-bolt client and the fake Slack: poison, outages, jitter.

A message that can never be delivered must not hold back the alerts queued
after it; an outage of 500s and 429s followed by recovery delivers every
alert exactly once; and lanes that failed together do not retry together.

``PROCBOT_OUTAGE_SECONDS`` (default 3) sets the length of the outage; the
issue's 60 s variant is ``PROCBOT_OUTAGE_SECONDS=60 pytest tests/test_outbox_lanes.py``.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

from core.alerts.outbox import JITTER, Outbox
from core.errors import DeliveryError
from core.reply import Reply, Tone
from core.store.outbox import OutboxStore
from tests.alert_fixtures import RecordingMessenger, alert_program, slack_alert_rig
from tests.helpers import wait_for

OUTAGE = float(os.environ.get("PROCBOT_OUTAGE_SECONDS", "3"))


def alert(title: str) -> Reply:
    return Reply(title=title, text="exit code 1", tone=Tone.ERROR, ephemeral=False)


def delivered_titles(fake: Any, channel: str) -> list[str]:
    return [m.text for m in fake.messages.values() if m.channel == channel]


async def test_a_message_slack_rejects_at_the_head_of_a_lane_does_not_hold_back_the_next_alert(make_app):
    async with slack_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        rig.fake.poison("POISON-TOO-LONG", error="msg_blocks_too_long")
        await rig.alerting.outbox.post("slack:CALERTS", alert("POISON-TOO-LONG digest"))
        await wait_for(lambda: rig.app.supervisor.state("web").pid is not None)
        os.kill(rig.app.supervisor.state("web").pid or 0, 9)

        await rig.fake.wait_for(lambda: any("web crashed" in t for t in delivered_titles(rig.fake, "CALERTS")),
                                timeout=10)
        await wait_for(lambda: any("msg_blocks_too_long" in n for n in rig.alerting.outbox.status_notes()))
        assert not any("POISON" in t for t in delivered_titles(rig.fake, "CALERTS"))


async def test_a_message_that_always_fails_with_500_does_not_hold_back_the_next_alert(make_app):
    async with slack_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        rig.fake.poison("POISON-500", status=500, error="upstream failure")
        await rig.alerting.outbox.post("slack:CALERTS", alert("POISON-500 status"))
        await rig.fake.wait_for(lambda: len(rig.fake.calls_to("chat.postMessage")) >= 1)
        await wait_for(lambda: rig.app.supervisor.state("web").pid is not None)
        os.kill(rig.app.supervisor.state("web").pid or 0, 9)

        await rig.fake.wait_for(lambda: any("web crashed" in t for t in delivered_titles(rig.fake, "CALERTS")),
                                timeout=10)
        assert any("waiting to retry" in n for n in rig.alerting.outbox.status_notes())


async def test_an_outage_of_500s_then_429s_then_recovery_delivers_every_alert_exactly_once(make_app):
    async with slack_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        box = rig.alerting.outbox
        rig.fake.fail("chat.postMessage", status=500, times=10**9)
        titles = [f"alert {n} to {ch}" for n in range(6) for ch in ("CALERTS", "COTHER")]
        for n in range(6):
            for ch in ("CALERTS", "COTHER"):
                await box.post(f"slack:{ch}", alert(f"alert {n} to {ch}"), dedup_key=f"t:{n}:{ch}")
            await asyncio.sleep(OUTAGE / 12)
        rig.fake.fail("chat.postMessage", status=429, retry_after=1, times=10**9)
        await asyncio.sleep(OUTAGE / 2)
        assert rig.fake.messages == {}
        rig.fake.fail("chat.postMessage", times=0)  # Slack is back

        assert await box.drain(timeout=60 + 2 * OUTAGE)
        sent = [m.text.split(":")[0] for m in rig.fake.messages.values()]
        assert sorted(t for t in sent if t.startswith("alert")) == sorted(titles)


# ------------------------------------------------------------------ jitter (schedule values, not wall time)


class FrozenClock:
    """Time stands still: both lanes fail at the same instant, so only jitter can tell their retries apart."""

    def __init__(self, at: float = 1_800_000_000.0) -> None:
        self.at = at

    def time(self) -> float:
        return self.at

    def monotonic(self) -> float:
        return self.at


async def test_two_lanes_failing_in_the_same_outage_are_scheduled_to_retry_at_different_times(registry):
    rec = RecordingMessenger()
    rec.fail_with.extend([DeliveryError("Slack chat.postMessage: HTTP 503", retryable=True)] * 2)
    clock = FrozenClock()
    box = Outbox(OutboxStore(registry), lambda _p: rec, clock, backoff_initial=10.0, rng=random.Random(8))
    await box.start()
    try:
        await box.post("slack:C1", alert("web crashed"))
        await box.post("slack:C2", alert("db crashed"))
        await wait_for(lambda: rec.calls == 2)

        async def scheduled() -> list[float]:
            rows = await registry.fetch_all("SELECT next_try_at FROM outbox WHERE attempts = 1 ORDER BY id")
            return [r[0] - clock.at for r in rows]

        for _ in range(100):
            if len(delays := await scheduled()) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await box.stop()
    first, second = delays
    assert first != second
    assert all(10.0 * (1 - JITTER) <= d <= 10.0 for d in delays)


async def test_retries_after_a_429_are_spread_a_little_past_retry_after(registry):
    rec = RecordingMessenger()
    rec.fail_with.extend([DeliveryError("rate limited", retryable=True, retry_after=30.0)] * 2)
    clock = FrozenClock()
    box = Outbox(OutboxStore(registry), lambda _p: rec, clock, rng=random.Random(3))
    await box.start()
    try:
        # two platforms: a 429 holds back the rest of its own platform anyway
        await box.post("slack:C1", alert("web crashed"))
        await box.post("discord:2", alert("db crashed"))
        await wait_for(lambda: rec.calls == 2)
        rows: list[Any] = []
        for _ in range(100):
            rows = await registry.fetch_all("SELECT next_try_at FROM outbox WHERE attempts = 1 ORDER BY id")
            if len(rows) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await box.stop()
    delays = [r[0] - clock.at for r in rows]
    assert delays[0] != delays[1]
    assert all(30.0 <= d <= 36.0 for d in delays)
