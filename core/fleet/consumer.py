"""Front side of alerts: the fleet's outbox rows, from a durable consumer into this front's outbox.

A message is acked only after its row is committed to the front's own
SQLite outbox, so a front killed at any point loses nothing (JetStream
redelivers what was not acked) and a redelivered message queues nothing
twice (the front's row carries the dedup key ``fleet:<Nats-Msg-Id>``).
From there the front's lanes deliver to chat as for its own alerts: an
update edits the front's copy of the parent, a reply goes to its thread.
Several fronts share the one durable consumer, so each message is taken
by one of them.
"""

from __future__ import annotations

import asyncio
import logging

import nats.errors
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from core.alerts.outbox import Outbox
from core.errors import InvalidInput, RegistryError
from core.fleet.codec import OutboxEvent, decode_event
from core.fleet.streams import ensure_stream
from core.fleet.subjects import EVT_PREFIX, EVT_STREAM, FRONT_CONSUMER
from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

FETCH_BATCH = 64
FETCH_WAIT = 1.0
#: a message not acked within this long is given to a front again
ACK_WAIT = 30.0


def front_key(msg_id: str) -> str:
    return f"fleet:{msg_id}"


class FrontConsumer:
    def __init__(self, outbox: Outbox, *, stream_max_age: float) -> None:
        self.outbox = outbox
        self.stream_max_age = stream_max_age
        self._task: asyncio.Task[None] | None = None
        self._sub: object = None
        #: rows queued from the fleet (tests and the benchmark read it)
        self.taken = 0
        #: events queued while this front's registry ran from memory, left unacked for redelivery
        self.held = 0

    async def attach(self, nc: Client) -> None:
        """Bind to the durable consumer and start taking (FleetLink.on_connect, once).

        Not again on reconnect: nats-py's pull subscription carries on across a server restart,
        and a second binding would leave messages with the first one's pending pull requests
        until ``ack_wait`` (measured).
        """
        js = nc.jetstream()
        await ensure_stream(js, self.stream_max_age)
        config = ConsumerConfig(durable_name=FRONT_CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT,
                                deliver_policy=DeliverPolicy.ALL, max_deliver=-1, max_ack_pending=10_000)
        sub = await js.pull_subscribe(f"{EVT_PREFIX}.>", durable=FRONT_CONSUMER, stream=EVT_STREAM, config=config)
        self._sub = sub
        self._task = asyncio.create_task(self._run(sub), name="fleet-consumer")

    async def _run(self, sub: object) -> None:
        while True:
            try:
                msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT)  # type: ignore[attr-defined]
            except TimeoutError:  # nothing new within FETCH_WAIT (nats' TimeoutError is one too)
                continue
            except (nats.errors.Error, OSError) as e:  # link down: the durable consumer waits on the server
                log.debug("fleet consumer: %s %s", type(e).__name__, e)
                await asyncio.sleep(0.2)
                continue
            except Exception:  # boundary: this loop is the front's only way in for the fleet's alerts
                log.exception("fleet consumer: fetch failed")
                await asyncio.sleep(0.2)
                continue
            for msg in msgs:
                await self._take(msg)

    async def _take(self, msg: object) -> None:
        try:
            event = decode_event(msg.data)  # type: ignore[attr-defined]
        except InvalidInput as e:
            log.warning("dropping an unreadable fleet event: %s", e)
            await _settle(msg.term())  # type: ignore[attr-defined]
            return
        try:
            await self.queue(event)
        except RegistryError as e:
            log.error("could not queue %s from %s: %s; it will be redelivered", event.msg_id, event.host, e)
            await _settle(msg.nak(delay=1.0))  # type: ignore[attr-defined]
            return
        if not self.outbox.durable():
            # queued (and delivered) from memory; an ack now would let a kill -9 lose it. JetStream
            # redelivers it until the row is on disk; its dedup key keeps it to one message
            self.held += 1
            await _settle(msg.nak(delay=1.0))  # type: ignore[attr-defined]
            return
        self.taken += 1
        await _settle(msg.ack())  # type: ignore[attr-defined]

    async def queue(self, ev: OutboxEvent) -> int | None:
        """Write the event as a row of this front's outbox (idempotent for posts and replies)."""
        key = front_key(ev.msg_id)
        parent = await self.outbox.store.by_key(front_key(ev.parent)) if ev.parent else None
        if ev.action == "post" or (ev.action == "reply" and parent is None):
            return await self.outbox.post(ev.destination, ev.reply, dedup_key=key)
        if parent is None:  # an edit of a message this front never had (pruned): nothing to edit
            log.info("fleet update %s from %s: its message is unknown here; dropped", ev.msg_id, ev.host)
            return None
        if ev.action == "reply":
            return await self.outbox.reply(ev.destination, parent.id, ev.reply, dedup_key=key)
        return await self.outbox.update(ev.destination, parent.id, ev.reply)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await _settle(sub.unsubscribe())  # type: ignore[attr-defined]


async def _settle(op: object) -> None:
    """Ack/nak/term; a lost link means JetStream redelivers later, which the dedup key absorbs."""
    try:
        await op  # type: ignore[misc]
    except (nats.errors.Error, OSError) as e:
        log.debug("fleet ack not sent: %s", e)
