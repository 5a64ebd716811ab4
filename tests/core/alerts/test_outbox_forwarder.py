"""The outbox's Forwarder seam: a destination that takes whole entries (the fleet's relay) instead of posts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core.alerts.outbox import NotReady, Outbox
from core.ports import Envelope
from core.reply import Reply
from core.store.outbox import OutboxStore
from core.store.registry import Registry
from tests.alert_fixtures import FakeClock
from tests.helpers import wait_for

DEST = "slack:C1"


class RecordingForwarder:
    """A Forwarder that keeps what it is handed; ``gate`` holds the next forward until it is set."""

    platform = "slack"

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.not_ready = 0

    async def forward(self, envelope: Envelope) -> str:
        if self.not_ready:
            self.not_ready -= 1
            raise NotReady("the link is down", retry_after=0.01)
        self.envelopes.append(envelope)
        await self.gate.wait()
        return f"fwd:{envelope.entry_id}"


@pytest.fixture
async def forwarding(registry: Registry) -> AsyncIterator[tuple[Outbox, RecordingForwarder]]:
    fwd = RecordingForwarder()
    box = Outbox(OutboxStore(registry), lambda _platform: fwd, FakeClock(), backoff_initial=0.01, backoff_max=0.05)
    await box.start()
    yield box, fwd
    await box.stop()


def msg(title: str) -> Reply:
    return Reply(title=title, ephemeral=False)


async def test_a_forwarder_is_handed_each_entry_whole_and_its_ref_names_the_parent_of_the_next(forwarding):
    box, fwd = forwarding
    post = await box.post(DEST, msg("web crashed"), dedup_key="incident:1:alert:slack:C1")
    await box.reply(DEST, post, msg("web recovered"), dedup_key="incident:1:recovered:slack:C1")
    assert await box.drain(5)

    first, second = fwd.envelopes
    assert (first.entry_id, first.dedup_key, first.action, first.destination, first.reply.title,
            first.parent_ref) == (post, "incident:1:alert:slack:C1", "post", DEST, "web crashed", None)
    assert (second.action, second.reply.title, second.parent_ref) == ("reply", "web recovered", f"fwd:{post}")
    assert (await box.store.get(post)).message_ref == f"fwd:{post}"


async def test_edits_queued_behind_a_forward_in_flight_go_on_as_one_envelope_with_the_newest_payload(forwarding):
    box, fwd = forwarding
    fwd.gate.clear()
    post = await box.post(DEST, msg("web crashed"))
    await wait_for(lambda: len(fwd.envelopes) == 1)
    await box.update(DEST, post, msg("web crashed (2 times)"))
    await box.update(DEST, post, msg("web crashed (3 times)"))
    fwd.gate.set()
    assert await box.drain(5)

    assert [(e.action, e.reply.title, e.parent_ref) for e in fwd.envelopes] == [
        ("post", "web crashed", None), ("update", "web crashed (3 times)", f"fwd:{post}")]


async def test_a_forwarder_that_is_not_ready_holds_the_entry_without_counting_an_attempt(forwarding):
    box, fwd = forwarding
    fwd.not_ready = 3
    entry = await box.post(DEST, msg("web crashed"))
    assert await box.drain(5)

    assert [e.entry_id for e in fwd.envelopes] == [entry]
    row = await box.store.get(entry)
    assert (row.attempts, row.failed, row.message_ref) == (0, False, f"fwd:{entry}")
