"""The outbox: written first, delivered in order, retried, coalesced, failures surfaced, never lost."""

from __future__ import annotations

from core.actor import Actor, CommandContext
from core.alerts.outbox import Outbox
from core.errors import DeliveryError
from core.reply import Reply
from core.store.outbox import OutboxStore
from core.store.registry import Registry
from tests.alert_fixtures import FakeClock, RecordingMessenger, alert_program, alert_rig
from tests.helpers import wait_for

DEST = "slack:C1"


def make_outbox(registry: Registry, rec: RecordingMessenger) -> Outbox:
    def lookup(platform: str) -> RecordingMessenger:
        if platform != rec.platform:
            raise DeliveryError(f"no {platform} here", retryable=False)
        return rec

    return Outbox(OutboxStore(registry), lookup, FakeClock(), backoff_initial=0.01, backoff_max=0.05)


async def running(registry: Registry, rec: RecordingMessenger) -> Outbox:
    box = make_outbox(registry, rec)
    await box.start()
    return box


def msg(title: str) -> Reply:
    return Reply(title=title, ephemeral=False)


async def rows(registry: Registry) -> list[tuple]:
    return await registry.fetch_all(
        "SELECT id, action, attempts, delivered_at IS NOT NULL, failed, last_error, message_ref FROM outbox ORDER BY id"
    )


async def test_server_errors_then_rate_limits_then_recovery_deliver_the_alert_exactly_once(registry):
    rec = RecordingMessenger()
    server_error = DeliveryError("Slack chat.postMessage: HTTP 500", retryable=True)
    rate_limited = DeliveryError("Slack chat.postMessage: rate limited", retryable=True, retry_after=0.05)
    rec.fail_with.extend([server_error] * 3 + [rate_limited] * 3)
    box = await running(registry, rec)
    try:
        await box.post(DEST, msg("web crashed"), dedup_key="incident:1:alert:slack:C1")
        assert await box.drain(5)
    finally:
        await box.stop()
    assert [m.reply.title for m in rec.messages] == ["web crashed"]
    [(_, _, attempts, delivered, failed, error, ref)] = await rows(registry)
    assert (attempts, delivered, failed, error, ref) == (6, 1, 0, None, "C1:1")


async def test_a_refused_channel_fails_the_entry_shows_it_in_status_and_the_lane_goes_on(registry):
    rec = RecordingMessenger()
    rec.fail_with.append(DeliveryError("Slack chat.postMessage: not_in_channel", retryable=False))
    box = await running(registry, rec)
    try:
        await box.post(DEST, msg("first"))
        await box.post(DEST, msg("second"))
        assert await box.drain(5)
    finally:
        await box.stop()
    assert [m.reply.title for m in rec.messages] == ["second"]
    assert box.status_notes() == ["1 alert undelivered to slack:C1: Slack chat.postMessage: not_in_channel"]
    assert rec.calls == 2  # one try for the refused entry: no retry loop


async def test_queued_edits_coalesce_into_the_newest_content(registry):
    rec = RecordingMessenger()
    rec.fail_with.append(DeliveryError("HTTP 503", retryable=True))
    box = make_outbox(registry, rec)
    root = await box.post(DEST, msg("crashed once"))
    for n in range(2, 7):
        await box.update(DEST, root, msg(f"crashed {n} times"))
    await box.start()
    try:
        assert await box.drain(5)
    finally:
        await box.stop()
    [sent] = rec.messages
    assert sent.reply.title == "crashed 6 times" and sent.edits == []


async def test_a_thread_reply_goes_under_the_delivered_parent_and_edits_reach_the_same_message(registry):
    rec = RecordingMessenger()
    box = await running(registry, rec)
    try:
        root = await box.post(DEST, msg("web crashed"))
        await box.update(DEST, root, msg("web recovered"))
        await box.reply(DEST, root, msg("web is running again"))
        assert await box.drain(5)
    finally:
        await box.stop()
    alert, recovery = rec.messages
    assert alert.current.title == "web recovered"
    assert recovery.thread_ref == alert.ref


async def test_a_reply_to_a_message_that_never_arrived_is_posted_on_its_own_and_edits_of_it_fail(registry):
    rec = RecordingMessenger()
    rec.fail_with.append(DeliveryError("not_in_channel", retryable=False))
    box = await running(registry, rec)
    try:
        root = await box.post(DEST, msg("web crashed"))
        assert await box.drain(5)
        await box.update(DEST, root, msg("web recovered"))
        await box.reply(DEST, root, msg("web is running again"))
        assert await box.drain(5)
    finally:
        await box.stop()
    [recovery] = rec.messages
    assert recovery.reply.title == "web is running again" and recovery.thread_ref is None
    assert [r[4] for r in await rows(registry)] == [1, 1, 0]


async def test_the_same_dedup_key_never_queues_a_second_message(registry):
    rec = RecordingMessenger()
    box = await running(registry, rec)
    try:
        first = await box.post(DEST, msg("web crashed"), dedup_key="incident:7:alert:slack:C1")
        again = await box.post(DEST, msg("web crashed"), dedup_key="incident:7:alert:slack:C1")
        assert await box.drain(5)
    finally:
        await box.stop()
    assert first == again and len(rec.messages) == 1


async def test_a_platform_that_cannot_be_reached_does_not_delay_another(registry):
    rec = RecordingMessenger()
    box = await running(registry, rec)
    try:
        await box.post("discord:42", msg("to discord"))
        await box.post(DEST, msg("to slack"))
        assert await box.drain(5)
    finally:
        await box.stop()
    assert [m.reply.title for m in rec.messages] == ["to slack"]
    assert box.status_notes() == ["1 alert undelivered to discord:42: no discord here"]


async def test_entries_left_when_procbot_stopped_are_delivered_once_by_the_next_run(registry):
    down = RecordingMessenger()
    down.fail_with.extend([DeliveryError("connection refused", retryable=True)] * 1000)
    first = await running(registry, down)
    await first.post(DEST, msg("web crashed"), dedup_key="incident:1:alert:slack:C1")
    await first.stop()  # procbot goes away with the alert still queued

    up = RecordingMessenger()
    second = await running(registry, up)
    assert await second.drain(5)
    await second.stop()
    third = await running(registry, up)
    assert await third.drain(5)
    await third.stop()

    assert [m.reply.title for m in up.messages] == ["web crashed"]


async def test_a_route_to_a_platform_without_credentials_fails_visibly_in_status(make_app):
    async with alert_rig(make_app, [alert_program("web", min_uptime=30)], route_to="discord:42") as rig:
        await wait_for(lambda: rig.app.supervisor.state("web").pid is not None)
        await rig.kill("web")
        await wait_for(lambda: bool(rig.alerting.outbox.status_notes()))

        status = await rig.app.dispatcher.handle("status", CommandContext(Actor("cli", "root", local=True)))

        assert ("1 alert undelivered to discord:42: alerts go to Discord but Discord is not configured "
                "([discord] missing or disabled)") in status.text
