"""The outbox sender: every alert and digest is a row first, a chat message second.

Why a table and not a queue: a row survives procbot being killed, so an
alert raised a millisecond before a crash is still delivered after the
restart. Each destination (``console``, ``slack:C123``, ``discord:42``) has a
*lane* of two tasks: one sends entries never tried yet, in id order; the other
retries entries that failed, in the order their retries fall due. So a message
that keeps failing (a 500 on every try, a payload the platform rejects) never
holds back the alerts queued after it, a thread reply or an edit still waits
for the message it belongs to, and a rate limit on one channel never delays
another.

Rules:

* **Written first.** ``post``/``reply``/``update`` insert a row and wake the
  lane; nothing is sent from the caller's task.
* **Coalescing.** Rows are never rewritten. When a lane sends a message that
  has newer ``update`` rows queued behind it, it sends the newest payload and
  marks the older ones delivered with it: a flapping program's fifty updates
  during a Slack outage become one edit.
* **Retries.** A retryable :class:`DeliveryError` (network, 5xx) backs off
  exponentially with jitter (a delay drawn from the upper half of the
  exponential step), so the lanes that failed together in an outage do not
  retry together; a 429 waits out ``retry_after`` (plus a little jitter) and
  holds back the whole platform. A non-retryable one (``not_in_channel``, no credentials) marks the
  row failed, logs once, and shows in ``/proc status`` through
  :meth:`Outbox.status_notes`. Rows still failing after ``max_age`` fail too.
* **Idempotency.** Callers give dedup keys (``incident:7:post:slack:C1``); a
  key already present returns the existing row, so re-raising an alert after a
  restart never queues a second message.
* **At-least-once at the edge.** A row is marked delivered after the platform
  answers. If procbot dies in that window (the length of one HTTP call) the
  message is sent again after the restart. We prefer a rare duplicate to a
  lost alert; Slack offers no idempotency key to close the window.
* **Forwarders.** The lookup may answer a :class:`~core.ports.Forwarder`
  instead of a Messenger (on a fleet host, the relay to the front): the lane
  then hands it the whole entry as an :class:`~core.ports.Envelope` (see
  :func:`envelope`) rather than posting, editing or replying. Everything
  else (lanes, retries, coalescing, ``NotReady``) is the same; the entry's
  identity in the envelope is what lets the next hop close the window above.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from core.clock import Clock
from core.errors import DeliveryError, RegistryError
from core.ports import Envelope, Forwarder, Messenger, can_edit, can_thread, forwards
from core.reply import Reply
from core.store.outbox import OutboxRow, OutboxStore
from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: resolves a platform name ("slack") to its Messenger (or Forwarder), or raises DeliveryError saying why not
MessengerLookup = Callable[[str], Messenger | Forwarder]


class NotReady(DeliveryError):
    """The platform's adapter is configured but not registered yet (start-up): wait, quietly."""

    def __init__(self, message: str, retry_after: float = 0.2) -> None:
        super().__init__(message, retryable=True, retry_after=retry_after)


@dataclass(frozen=True)
class Destination:
    platform: str
    channel: str

    @classmethod
    def parse(cls, dest: str) -> Destination:
        platform, _, channel = dest.partition(":")
        return cls(platform, channel)


@dataclass
class _Worker:
    """One of a lane's two tasks: first sends (``retrying=False``) or retries."""

    retrying: bool
    wake: asyncio.Event
    task: asyncio.Task[None] | None = None
    busy: bool = False


@dataclass
class _Lane:
    destination: str
    fresh: _Worker
    retry: _Worker

    @property
    def workers(self) -> tuple[_Worker, _Worker]:
        return (self.fresh, self.retry)

    def wake(self) -> None:
        for w in self.workers:
            w.wake.set()

#: share of an exponential backoff step left to chance: delays fall in [step * (1 - JITTER), step]
JITTER = 0.5
#: at most this much is added at random to a 429's Retry-After
RETRY_AFTER_JITTER_MAX = 5.0


class Outbox:
    def __init__(
        self,
        store: OutboxStore,
        messengers: MessengerLookup,
        clock: Clock,
        *,
        backoff_initial: float = 1.0,
        backoff_max: float = 300.0,
        max_age: float = 86400.0,
        send_timeout: float = 60.0,
        stop_grace: float = 5.0,
        notes_window: float = 86400.0,
        keep: float = 30 * 86400.0,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.messengers = messengers
        self.clock = clock
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_age = max_age
        self.send_timeout = send_timeout
        self.stop_grace = stop_grace
        self.notes_window = notes_window
        self.keep = keep
        self.rng = rng or random.Random()
        self._pruner: asyncio.Task[None] | None = None
        self._lanes: dict[str, _Lane] = {}
        self._blocked_until: dict[str, float] = {}  # platform -> clock time (HTTP 429)
        self._notes: list[str] = []
        self._running = False
        #: deliveries made (tests and the benchmark read it)
        self.delivered = 0

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        """Start a lane for every destination with rows left from before (delivered now, once)."""
        self._running = True
        pending = await self.store.pending_destinations()
        if pending:
            log.info("outbox: %d entries left from before, delivering", await self.store.pending_count())
        for dest in pending:
            self._lane(dest)
        await self._refresh_notes()
        self._pruner = asyncio.create_task(self._prune_daily(), name="outbox-prune")

    async def _prune_daily(self) -> None:
        """Forget settled entries older than ``keep`` (30 days): the table stays small for ever."""
        while True:
            try:
                n = await self.store.prune(self.clock.time() - self.keep)
                if n:
                    log.info("outbox: pruned %d old entries", n)
            except RegistryError as e:
                log.error("outbox: pruning failed: %s", e)
            await asyncio.sleep(86400.0)

    async def stop(self) -> None:
        """Let a send in flight finish (a cut-off send is a likely duplicate), then cancel the lanes."""
        self._running = False
        workers = [w for lane in self._lanes.values() for w in lane.workers]
        busy = [w.task for w in workers if w.busy and w.task is not None]
        if busy:
            await asyncio.wait(busy, timeout=self.stop_grace)
        tasks = [w.task for w in workers if w.task is not None]
        if self._pruner is not None:
            tasks.append(self._pruner)
            self._pruner = None
        await cancel_and_wait(tasks)
        self._lanes.clear()

    # -- enqueueing ------------------------------------------------------
    def durable(self) -> bool:
        """Rows written now reach the disk: False while the registry runs from memory (file locked, full,
        read-only), when a row would be lost with the process. What acks another's copy asks this first."""
        return self.store.registry.health.ok

    async def post(self, destination: str, reply: Reply, *, dedup_key: str | None = None,
                   incident_id: int | None = None) -> int:
        """Queue a new message; returns the entry id (the existing one for a known ``dedup_key``)."""
        return await self._add(destination, "post", reply, dedup_key, incident_id, None)

    async def reply(self, destination: str, parent_id: int, reply: Reply, *, dedup_key: str | None = None,
                    incident_id: int | None = None) -> int:
        """Queue a thread reply to the message of entry ``parent_id`` (top-level if that one failed)."""
        return await self._add(destination, "reply", reply, dedup_key, incident_id, parent_id)

    async def update(self, destination: str, parent_id: int, reply: Reply, *, incident_id: int | None = None) -> int:
        """Queue an in-place edit of the message of entry ``parent_id``; queued edits coalesce."""
        return await self._add(destination, "update", reply, None, incident_id, parent_id)

    async def _add(self, destination: str, action: str, reply: Reply, dedup_key: str | None,
                   incident_id: int | None, thread_of: int | None) -> int:
        entry_id, created = await self.store.add(
            destination=destination, action=action, reply=reply, now=self.clock.time(), dedup_key=dedup_key,
            incident_id=incident_id, thread_of=thread_of,
        )
        if created:
            self._lane(destination).fresh.wake.set()
        return entry_id

    def _lane(self, destination: str) -> _Lane:
        lane = self._lanes.get(destination)
        if lane is None:
            lane = self._lanes[destination] = _Lane(destination, _Worker(False, asyncio.Event()),
                                                    _Worker(True, asyncio.Event()))
        for w in lane.workers:
            if self._running and w.task is None:  # entries queued before start() get their tasks here
                name = f"outbox-{destination}{'-retry' if w.retrying else ''}"
                w.task = asyncio.create_task(self._run_worker(lane, w), name=name)
        return lane

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before retry number ``attempts``: exponential with jitter, or Retry-After plus a little."""
        if retry_after is not None:
            return retry_after + self.rng.uniform(0.0, min(RETRY_AFTER_JITTER_MAX, max(0.1, retry_after * 0.2)))
        step = min(self.backoff_initial * 2 ** min(attempts - 1, 40), self.backoff_max)
        return step * (1.0 - JITTER * self.rng.random())

    # -- observing -------------------------------------------------------
    def status_notes(self) -> list[str]:
        """Lines for ``/proc status``: what is undelivered and why (refreshed on every failure)."""
        return list(self._notes)

    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is left to deliver; False on timeout (tests, benchmark, demo)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self.store.pending_count():
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def _refresh_notes(self) -> None:
        rows = await self.store.problems(self.clock.time() - self.notes_window)
        notes = []
        for dest, error, failed, retrying in rows:
            if failed:
                notes.append(f"{_count(failed, 'alert')} undelivered to {dest}: {error}")
            if retrying:
                notes.append(f"{_count(retrying, 'alert')} waiting to retry for {dest}: {error}")
        self._notes = notes

    # -- the lanes -------------------------------------------------------
    async def _run_worker(self, lane: _Lane, worker: _Worker) -> None:
        platform = Destination.parse(lane.destination).platform
        while self._running:
            worker.wake.clear()
            try:
                row = await self.store.next_entry(lane.destination, retrying=worker.retrying)
            except RegistryError as e:
                log.error("outbox: cannot read %s: %s", lane.destination, e)
                await asyncio.sleep(self.backoff_initial)
                continue
            if row is None:
                await worker.wake.wait()
                continue
            now = self.clock.time()
            wait = max(row.next_try_at, self._blocked_until.get(platform, 0.0)) - now
            # capped, so a wall clock stepped backwards cannot hold a destination's queue for hours
            wait = min(wait, self.backoff_max)
            if wait > 0:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel that lands as the
                # event fires, and then stop() would wait for this task for ever
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await worker.wake.wait()
                continue
            worker.busy = True
            try:
                await self._deliver(row)
            except RegistryError as e:
                log.error("outbox: could not record delivery of entry %d: %s", row.id, e)
                await asyncio.sleep(self.backoff_initial)
            finally:
                worker.busy = False
                lane.wake()  # a settled parent frees its replies; a failed entry moves to the retry task

    async def _deliver(self, row: OutboxRow) -> None:
        dest = Destination.parse(row.destination)
        parent_id = row.thread_of if row.action == "update" else row.id
        assert parent_id is not None
        newer = await self.store.pending_updates(parent_id)
        ids = [row.id, *(u.id for u in newer if u.id != row.id)]
        reply = newer[-1].reply if newer else row.reply
        try:
            target = self.messengers(dest.platform)
            async with asyncio.timeout(self.send_timeout):
                ref = await self._send(target, dest, row, reply)
        except NotReady as e:
            await self.store.mark_retry(row.id, row.attempts, self.clock.time() + (e.retry_after or 0.2), str(e))
            return
        except DeliveryError as e:
            await self._failed(row, ids, e)
            return
        except TimeoutError:
            await self._failed(row, ids, DeliveryError(
                f"no answer within {self.send_timeout:.0f}s", retryable=True))
            return
        except Exception as e:  # boundary: a bug in one adapter must not stop every alert
            log.exception("outbox: %s raised unexpectedly for entry %d", dest.platform, row.id)
            await self._failed(row, ids, DeliveryError(f"{type(e).__name__}: {e}", retryable=True))
            return
        if ref is None:
            return
        await self.store.mark_delivered(ids, ref, self.clock.time())
        self.delivered += 1
        if row.attempts:
            log.info("outbox: entry %d delivered to %s after %d failed attempts", row.id, row.destination,
                     row.attempts)
            await self._refresh_notes()

    async def _send(self, target: Messenger | Forwarder, dest: Destination, row: OutboxRow,
                    reply: Reply) -> str | None:
        """Perform one delivery; returns the message ref, or None when the row was settled otherwise.

        A Forwarder is handed the whole entry. For a Messenger, what the
        destination cannot do is done the nearest way it can: an edit becomes
        a follow-up post in the thread of the edited message, a thread reply
        becomes a top-level post.
        """
        if forwards(target):
            parent = await self.store.get(row.thread_of) if row.thread_of is not None else None
            return await target.forward(envelope(row, reply, parent))
        return await self._post(cast(Messenger, target), dest, row, reply)

    async def _post(self, messenger: Messenger, dest: Destination, row: OutboxRow, reply: Reply) -> str | None:
        """The chat step of :meth:`_send`: a post, a thread reply or an edit (or its nearest stand-in)."""
        if row.action == "post":
            return await messenger.post(dest.channel, reply)
        parent = await self.store.get(row.thread_of) if row.thread_of is not None else None
        if row.action == "reply":
            thread = parent.message_ref if parent is not None and parent.delivered_at is not None else None
            return await messenger.post(dest.channel, reply, thread if can_thread(messenger) else None)
        if parent is None or parent.message_ref is None:
            # the message to edit never reached the platform (failed, or pruned): nothing to edit
            await self.store.mark_failed([row.id], row.attempts, "the message to update was never delivered")
            return None
        if not can_edit(messenger):
            return await messenger.post(dest.channel, reply, await self._thread_of(parent, messenger))
        await messenger.update(dest.channel, parent.message_ref, reply)
        return parent.message_ref

    async def _thread_of(self, parent: OutboxRow, messenger: Messenger) -> str | None:
        """Where a follow-up to ``parent`` goes: its thread (the root's, for a reply), or top-level."""
        if not can_thread(messenger):
            return None
        if parent.action == "reply" and parent.thread_of is not None:
            root = await self.store.get(parent.thread_of)
            return root.message_ref if root is not None else None
        return parent.message_ref

    async def _failed(self, row: OutboxRow, ids: list[int], err: DeliveryError) -> None:
        now = self.clock.time()
        attempts = row.attempts + 1
        too_old = now - row.created_at > self.max_age
        if not err.retryable or too_old:
            why = str(err) if not too_old else f"gave up after {attempts} attempts: {err}"
            log.warning("outbox: %s to %s failed for good: %s", row.action, row.destination, why)
            await self.store.mark_failed(ids, attempts, why)
        else:
            delay = self.backoff(attempts, err.retry_after)
            if err.retry_after is not None:
                platform = Destination.parse(row.destination).platform
                self._blocked_until[platform] = max(self._blocked_until.get(platform, 0.0),
                                                    now + err.retry_after)
            if attempts == 1:
                log.warning("outbox: %s to %s failed, retrying in %.1fs: %s", row.action, row.destination,
                            delay, err)
            else:
                log.info("outbox: attempt %d of entry %d failed, retrying in %.1fs: %s", attempts, row.id,
                         delay, err)
            await self.store.mark_retry(row.id, attempts, now + delay, str(err))
        await self._refresh_notes()


def envelope(row: OutboxRow, reply: Reply | None = None, parent: OutboxRow | None = None) -> Envelope:
    """The entry ``row`` as a Forwarder is handed it: with ``reply`` (the newest payload, when queued
    edits coalesced; the row's own by default) and the message ref of ``parent``, if it has one."""
    return Envelope(entry_id=row.id, created_at=row.created_at, dedup_key=row.dedup_key,
                    destination=row.destination, action=row.action, reply=reply if reply is not None else row.reply,
                    parent_ref=parent.message_ref if parent is not None else None)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
