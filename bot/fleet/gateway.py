"""A front's Discord adapter, with its gateway open only while this front holds the lease.

Discord allows one gateway session per bot token and shard, so of the fronts
that have the token, one runs the gateway (slash commands in) and the others
stand by with the adapter logged in for REST only (their share of the alerts
from the fronts' one durable consumer still goes out). The lease
(core/fleet/lease.py) decides who; this module only switches the adapter when
the lease changes hands. The adapter knows nothing of either.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from core.clock import Clock
from core.fleet.lease import Lease
from core.fleet.subjects import DISCORD_LEASE

log = logging.getLogger(__name__)


class DiscordGateway:
    def __init__(self, host: str, clock: Clock, *, ttl: float, interval: float) -> None:
        self.lease = Lease(DISCORD_LEASE, host, clock, ttl=ttl, interval=interval, on_change=self._changed)
        self.adapter: Any = None
        self._lock = asyncio.Lock()

    async def adopt(self, adapter: Any) -> None:
        """The App hands over the adapter it built (``App.adapter_starters``): start it as the lease says."""
        async with self._lock:
            self.adapter = adapter
            adapter.gateway = self.lease.held
            await adapter.start()

    async def _changed(self, held: bool) -> None:
        async with self._lock:
            adapter = self.adapter
            if adapter is None or adapter.gateway == held:
                return
            log.info("discord: %s", "this front holds the gateway lease; connecting" if held
                     else "gateway lease lost; closing the gateway and standing by")
            await adapter.stop()
            adapter.gateway = held
            await adapter.start()

    def status_note(self) -> str | None:
        """A ``status`` line while this front stands by (None while it runs the gateway)."""
        if self.lease.held:
            return None
        by = self.lease.held_by
        return f"discord: standing by (held by {by})" if by else "discord: standing by (gateway lease not held)"

    async def stop(self) -> None:
        """Close the gateway first, then release the lease, so the next front never overlaps with this one."""
        async with self._lock:
            if self.adapter is not None and self.lease.held:
                await self.adapter.stop()
        await self.lease.stop()
