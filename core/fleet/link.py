"""The one NATS connection of a fleet member, and whether it is up.

Joining the fleet never holds up local supervision: :meth:`FleetLink.start`
returns at once and the connection is made (and re-made after every loss,
nats-py's reconnect loop with jitter) by a task the link owns. Whoever needs
the connection asks :attr:`FleetLink.up` and gets a clear "the fleet link is
down" instead of a hang. Subscriptions made once survive reconnects
(nats-py re-sends them); ``on_connect`` callbacks run after the first connect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.client import Client

from core.clock import Clock
from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

OnConnect = Callable[[Client], Awaitable[None]]


class FleetLink:
    def __init__(self, host: str, options: dict[str, Any], clock: Clock, *, reconnect_wait: float = 2.0,
                 connect_timeout: float = 2.0) -> None:
        self.host = host
        self._options = options
        self.clock = clock
        self.reconnect_wait = reconnect_wait
        self.connect_timeout = connect_timeout
        self.nc: Client | None = None
        self._connected = False
        #: clock time the link went down (or start-up time until the first connect)
        self.down_since: float | None = None
        self.last_error: str = ""
        self._on_connect: list[OnConnect] = []
        self._on_reconnect: list[OnConnect] = []
        self._task: asyncio.Task[None] | None = None
        self._first = asyncio.Event()

    def on_connect(self, cb: OnConnect) -> None:
        """Run ``cb(nc)`` once, after the first successful connect (subscriptions, streams, buckets)."""
        self._on_connect.append(cb)

    def on_reconnect(self, cb: OnConnect) -> None:
        """Run ``cb(nc)`` after every reconnect (what nats-py does not restore: KV watchers)."""
        self._on_reconnect.append(cb)

    @property
    def up(self) -> bool:
        return self._connected and self.nc is not None and self.nc.is_connected

    def status_note(self) -> str | None:
        """A line for ``status`` while the link is down (None while it is up)."""
        if self.up:
            return None
        since = self.down_since if self.down_since is not None else self.clock.time()
        why = f": {self.last_error}" if self.last_error else ""
        return f"fleet link down for {max(0, int(self.clock.time() - since))}s (host {self.host}){why}"

    async def start(self) -> None:
        self.down_since = self.clock.time()
        self._task = asyncio.create_task(self._run(), name="fleet-link")

    async def wait_connected(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._first.wait()
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        async def error_cb(e: Exception) -> None:
            self.last_error = str(e) or type(e).__name__
            log.debug("fleet link: %s", self.last_error)

        async def disconnected_cb() -> None:
            if self._connected:
                log.warning("fleet link to NATS lost; local supervision goes on, events wait in the outbox")
            self._connected = False
            self.down_since = self.clock.time()

        async def reconnected_cb() -> None:
            self._connected = True
            self.down_since = None
            self.last_error = ""
            log.info("fleet link to NATS is back")
            if self.nc is not None:
                await self._run_callbacks(self._on_reconnect, self.nc)

        nc = await nats.connect(
            **self._options, name=f"procbot-{self.host}", error_cb=error_cb, disconnected_cb=disconnected_cb,
            reconnected_cb=reconnected_cb, max_reconnect_attempts=-1, reconnect_time_wait=self.reconnect_wait,
            connect_timeout=self.connect_timeout, allow_reconnect=True,
        )
        self.nc = nc
        self._connected = True
        self.down_since = None
        self.last_error = ""
        log.info("fleet link up: host %s", self.host)
        await self._run_callbacks(self._on_connect, nc)
        self._first.set()

    async def _run_callbacks(self, callbacks: list[OnConnect], nc: Client) -> None:
        for cb in callbacks:
            try:
                await cb(nc)
            except Exception:  # boundary: one failing set-up step must not keep the rest of the fleet down
                log.exception("fleet set-up step failed")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        if self.nc is not None:
            nc, self.nc = self.nc, None
            self._connected = False
            try:
                await asyncio.wait_for(nc.close(), 5.0)
            except (TimeoutError, OSError, nats.errors.Error) as e:
                log.warning("fleet link did not close cleanly: %s", e)
