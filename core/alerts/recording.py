"""One alert when history stops being recorded, and a reply in its thread when it is again.

Why here and not in the crash-alert policy: this is about procbot's own
registry, not a program; it has no incident, no storm grouping and no
silence target. It goes through the same outbox (which keeps working from
the registry's in-memory stand-in while the disk is full) to every
destination an alert route names, so whoever gets crash alerts learns that
crash history is not being kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from core.alerts.outbox import Outbox
from core.errors import ProcbotError
from core.reply import Reply, Tone
from core.spec import Route
from core.store.health import RegistryHealth, hhmm
from core.store.registry import Registry

log = logging.getLogger(__name__)


def route_destinations(routes: Sequence[Route]) -> list[str]:
    """Every destination any route names, in order (the console when there are none)."""
    out = list(dict.fromkeys(d for r in routes for d in r.to))
    return out or ["console"]


class RegistryAlerts:
    def __init__(self, registry: Registry, outbox: Outbox, destinations: Callable[[], list[str]], host: str) -> None:
        self.registry = registry
        self.outbox = outbox
        self.destinations = destinations
        self.host = host
        self._changes: asyncio.Queue[RegistryHealth] = asyncio.Queue()
        self._posted: dict[str, int] = {}   # destination -> outbox id of the open "not recorded" alert
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.registry.health_listeners.append(self._changes.put_nowait)
        self._task = asyncio.create_task(self._run(), name="registry-alerts")
        health = self.registry.health
        if not health.ok or health.recreated:  # degraded or re-created before alerting started
            self._changes.put_nowait(health)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.registry.health_listeners.remove(self._changes.put_nowait)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            health = await self._changes.get()
            try:
                await self._handle(health)
            except ProcbotError as e:
                log.error("could not queue the registry alert: %s", e)

    async def _handle(self, h: RegistryHealth) -> None:
        if not h.ok and not self._posted and h.since is not None:
            reply = Reply(
                title=f"History is not being recorded on {self.host}",
                text=f"history is not being recorded since {hhmm(h.since)}: {h.reason}. procbot keeps "
                     "supervising from memory and writes what it kept once the registry can be written.",
                tone=Tone.WARN, data={"kind": "registry_degraded"},
            )
            for dest in self.destinations():
                self._posted[dest] = await self.outbox.post(dest, reply, dedup_key=f"registry:{h.since}:{dest}")
        elif h.ok and self._posted:
            lost = f"; {h.dropped} history rows could not be kept" if h.dropped else ""
            text = f"history is recorded again on {self.host}{lost}."
            if h.recreated:
                text += f" The {h.recreated}."
            reply = Reply(title="History is recorded again", text=text, tone=Tone.OK,
                          data={"kind": "registry_recovered"})
            posted, self._posted = self._posted, {}
            for dest, parent in posted.items():
                await self.outbox.reply(dest, parent, reply)
