"""A lease: one holder at a time for a named key, for what only one front may run (Discord's gateway).

The key lives in a KV bucket whose TTL is the lease's: ``create`` succeeds for
one front only (the server refuses it while the key exists), the holder
``update``\\s it on its revision every ``interval``, and a holder that dies or
loses NATS stops refreshing, so the server forgets the key within one TTL and
the next ``create`` by another front wins. The holder gives the lease up on its
own side once it has not renewed it for one TTL (counted from *before* its last
successful renewal was sent), so two holders overlap by at most one renewal
interval plus the time to stop what the lease guards, and never more than a TTL.
Gaining and losing are handed to one callback; this module knows nothing of chat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from core.clock import Clock
from core.fleet.streams import kv_bucket
from core.fleet.subjects import LEASES_BUCKET
from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: called with True when the lease is gained, False when it is lost
OnChange = Callable[[bool], Awaitable[None]]
_LINK_ERRORS = (nats.errors.Error, OSError, TimeoutError)


async def leases_bucket(nc: Client, ttl: float) -> KeyValue:
    """The leases bucket (one value per key, TTL ``ttl``)."""
    return await kv_bucket(nc, LEASES_BUCKET, ttl)


class Lease:
    """``holder``'s bid for ``key``: tried (or renewed) now and every ``interval`` while attached."""

    def __init__(self, key: str, holder: str, clock: Clock, *, ttl: float, interval: float,
                 on_change: OnChange | None = None) -> None:
        self.key = key
        self.holder = holder
        self.clock = clock
        self.ttl = ttl
        self.interval = interval
        self.on_change = on_change
        self.held = False
        #: who holds it, as last read (None: nobody, or not known yet)
        self.held_by: str | None = None
        self._revision = 0
        self._renewed = 0.0
        self._kv: KeyValue | None = None
        self._nc: Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def attach(self, nc: Client) -> None:
        self._nc = nc
        await self.tick()
        self._task = asyncio.create_task(self._run(), name=f"fleet-lease-{self.key}")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.tick()

    async def tick(self) -> None:
        """Renew the lease if held, else try to take it; give it up once a TTL passed without renewal."""
        if self._nc is None:
            return
        sent = self.clock.monotonic()
        try:
            # bounded: a request sent while the link is down would otherwise wait for the client's own timeout
            async with asyncio.timeout(max(self.interval, 0.05)):
                if self._kv is None:
                    self._kv = await leases_bucket(self._nc, self.ttl)
                if self.held:
                    self._revision = await self._kv.update(self.key, self.holder.encode(), last=self._revision)
                    self._renewed = sent
                    return
                try:
                    self._revision = await self._kv.create(self.key, self.holder.encode())
                except KeyWrongLastSequenceError:
                    self.held_by = await self._holder()
                    return
        except KeyWrongLastSequenceError:  # our key expired and another front created it, or...
            if await self._still_ours():  # ...our last renewal timed out here but reached the server
                return
            await self._lose("another front took it")
            return
        except _LINK_ERRORS as e:
            log.debug("lease %s: %s %s", self.key, type(e).__name__, e)
            if self.held and self.clock.monotonic() - self._renewed >= self.ttl:
                await self._lose(f"not renewed for {self.ttl:g}s")
            return
        self._renewed = sent
        self.held, self.held_by = True, self.holder
        log.info("lease %s: held by %s", self.key, self.holder)
        await self._changed(True)

    async def _still_ours(self) -> bool:
        assert self._kv is not None
        try:
            async with asyncio.timeout(max(self.interval, 0.05)):
                entry = await self._kv.get(self.key)
        except (*_LINK_ERRORS, KeyNotFoundError):
            return False
        if entry.value != self.holder.encode() or entry.revision is None:
            return False
        self._revision = entry.revision
        return True

    async def _holder(self) -> str | None:
        assert self._kv is not None
        try:
            entry = await self._kv.get(self.key)
        except KeyNotFoundError:
            return None
        return entry.value.decode(errors="replace") if entry.value else None

    async def _lose(self, why: str) -> None:
        self.held, self.held_by = False, None
        log.warning("lease %s lost by %s: %s", self.key, self.holder, why)
        await self._changed(False)

    async def _changed(self, held: bool) -> None:
        if self.on_change is None:
            return
        try:
            await self.on_change(held)
        except Exception:  # boundary: the lease goes on being renewed (or sought) whatever the callback did
            log.exception("lease %s: change callback failed", self.key)

    async def stop(self) -> None:
        """Stop bidding; a holder deletes the key so another front takes over now, not a TTL later."""
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        if self.held and self._kv is not None:
            try:
                async with asyncio.timeout(max(self.interval, 0.05)):
                    await self._kv.delete(self.key, last=self._revision)
            except (*_LINK_ERRORS, KeyWrongLastSequenceError) as e:  # it expires on its own within a TTL
                log.debug("lease %s not released: %s", self.key, e)
        self.held = False
