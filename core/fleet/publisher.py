"""Host side of alerts: each outbox row goes to JetStream, and counts as delivered on the PubAck.

On a host that is not a front, :class:`OutboxRelay` stands as every chat
platform's destination. It is a :class:`~core.ports.Forwarder`, not a
Messenger: the outbox hands it the whole entry (an Envelope), because the
entry is what makes the publish idempotent: its ``Nats-Msg-Id`` is derived
from it (host, creation time, dedup key or id), so the same entry published
again after a kill -9 between the server's ack and ``mark_delivered`` is
answered "duplicate" and stored once. The id it returns is recorded as the
row's message ref, so a later update or thread reply names its parent by
that id and the front can find its own copy.

While the link is down the row waits (``NotReady``: no attempt counted, no
give-up), and is published within ``RETRY_WHILE_DOWN`` of the link's return:
a partition delays alerts and never loses them.
"""

from __future__ import annotations

import hashlib

import nats.errors

from core.alerts.outbox import NotReady
from core.errors import DeliveryError
from core.fleet.codec import OutboxEvent, encode_event
from core.fleet.link import FleetLink
from core.fleet.subjects import outbox_subject
from core.ports import Envelope

#: seconds between tries while the fleet link is down
RETRY_WHILE_DOWN = 0.5
PUBLISH_TIMEOUT = 5.0


def row_msg_id(host: str, entry: Envelope) -> str:
    """The entry's Nats-Msg-Id: stable across restarts, unique across a re-created database.

    An update's id also covers its payload: queued edits coalesce, so the same row may go out
    with a newer payload after a restart, and that one must not be dropped as a duplicate.
    """
    base = f"{host}:{int(entry.created_at * 1000)}:{entry.dedup_key or entry.entry_id}"
    if entry.action == "update":
        digest = hashlib.sha1(repr(entry.reply.to_dict()).encode(), usedforsecurity=False).hexdigest()[:12]
        return f"{base}:{digest}"
    return base


class OutboxRelay:
    """The Forwarder of ``platform`` on a host whose chat is served by a front."""

    def __init__(self, link: FleetLink, host: str, platform: str) -> None:
        self.link = link
        self.host = host
        self.platform = platform
        #: rows the server stored (duplicates included): tests and the benchmark read it
        self.published = 0
        self.duplicates = 0

    async def forward(self, envelope: Envelope) -> str:
        """Publish the entry to this host's subject; its Nats-Msg-Id once the server has stored it."""
        nc = self.link.nc
        if nc is None or not self.link.up:
            raise NotReady("the fleet link is down; the alert waits in this host's outbox",
                           retry_after=RETRY_WHILE_DOWN)
        msg_id = row_msg_id(self.host, envelope)
        event = OutboxEvent(msg_id=msg_id, host=self.host, destination=envelope.destination, action=envelope.action,
                            reply=envelope.reply, parent=envelope.parent_ref, created_at=envelope.created_at)
        try:
            ack = await nc.jetstream().publish(outbox_subject(self.host), encode_event(event),
                                               timeout=PUBLISH_TIMEOUT, headers={"Nats-Msg-Id": msg_id})
        except (nats.errors.Error, OSError) as e:  # NoResponders (no stream yet), timeout, link lost mid-way
            raise DeliveryError(f"publishing to the fleet failed: {e or type(e).__name__}", retryable=True,
                                retry_after=RETRY_WHILE_DOWN) from None
        self.published += 1
        self.duplicates += bool(ack.duplicate)
        return msg_id
