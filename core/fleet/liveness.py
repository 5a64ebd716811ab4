"""Host liveness: heartbeats into a KV bucket, and the front's view of who is silent.

Each host puts its :class:`Heartbeat` under its own key every
``heartbeat_interval``; the bucket's TTL (``heartbeat_ttl``) lets the server
forget a key nobody refreshes. The front does not wait for the server to
forget: it watches the bucket, notes *when it received* each host's last
heartbeat (its own clock, so hosts' clocks need not agree) and calls a host
silent ``heartbeat_ttl`` after that. Silence and return are handed to
callbacks (the front turns them into one incident with recovery in its thread).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client
from nats.js.kv import KeyValue

from core.clock import Clock
from core.errors import InvalidInput
from core.fleet.codec import Heartbeat, decode_heartbeat, encode_heartbeat
from core.fleet.streams import kv_bucket
from core.fleet.subjects import HOSTS_BUCKET
from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: a snapshot of this host for its heartbeat: (programs, failing program names)
Snapshot = Callable[[], tuple[int, list[str]]]
#: this host's program names and group names, for its heartbeat
Inventory = Callable[[], tuple[list[str], list[str]]]
HostCallback = Callable[["HostView"], Awaitable[None]]


async def hosts_bucket(nc: Client, ttl: float) -> KeyValue:
    """The liveness bucket (one value per key, TTL ``ttl``)."""
    return await kv_bucket(nc, HOSTS_BUCKET, ttl)


class HeartbeatSender:
    """Host side: a heartbeat now (on connect) and every ``interval`` while the link is up."""

    def __init__(self, host: str, snapshot: Snapshot, clock: Clock, *, interval: float, ttl: float,
                 version: str = "", front: bool = False, inventory: Inventory | None = None) -> None:
        self.host = host
        self.snapshot = snapshot
        self.inventory = inventory
        self.clock = clock
        self.interval = interval
        self.ttl = ttl
        self.version = version
        self.front = front
        self.started_at = clock.time()
        self._task: asyncio.Task[None] | None = None
        self._nc: Client | None = None
        self._kv: KeyValue | None = None

    async def attach(self, nc: Client) -> None:
        """Beat now and every interval. The bucket is looked up on each beat until found: a host whose
        NATS user may not create it (the shipped server config) waits for a front to create it."""
        self._nc = nc
        await self.beat()
        self._task = asyncio.create_task(self._run(), name="fleet-heartbeat")

    def heartbeat(self) -> Heartbeat:
        programs, failing = self.snapshot()
        names, groups = self.inventory() if self.inventory is not None else ([], [])
        return Heartbeat(host=self.host, at=self.clock.time(), started_at=self.started_at, programs=programs,
                         failing=len(failing), version=self.version, front=self.front, failing_names=failing[:20],
                         program_names=names, group_names=groups)

    async def beat(self) -> None:
        if self._nc is None:
            return
        try:
            if self._kv is None:
                self._kv = await hosts_bucket(self._nc, self.ttl)
            await self._kv.put(self.host, encode_heartbeat(self.heartbeat()))
        except (nats.errors.Error, OSError, TimeoutError) as e:  # link down: the next beat says we are back
            log.debug("heartbeat not sent: %s %s", type(e).__name__, e)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.beat()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None


@dataclass
class HostView:
    host: str
    heartbeat: Heartbeat
    #: front clock time the last heartbeat arrived
    seen_at: float
    silent: bool = False
    silent_since: float | None = None


class Liveness:
    """Front side: every host that ever sent a heartbeat, and which of them went silent."""

    def __init__(self, clock: Clock, *, ttl: float, on_silent: HostCallback | None = None,
                 on_back: HostCallback | None = None, check_every: float = 0.25,
                 link_up: Callable[[], bool] = lambda: True, self_host: str | None = None) -> None:
        self.clock = clock
        #: this front's own host: listed with the others, never called silent by itself
        self.self_host = self_host
        self.link_up = link_up
        self._paused = False
        self.ttl = ttl
        self.on_silent = on_silent
        self.on_back = on_back
        self.check_every = check_every
        self._hosts: dict[str, HostView] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._watch_task: asyncio.Task[None] | None = None

    # -- reading -----------------------------------------------------------
    def get(self, host: str) -> HostView | None:
        return self._hosts.get(host)

    def hosts(self) -> list[HostView]:
        return [self._hosts[h] for h in sorted(self._hosts)]

    def names(self) -> list[str]:
        return sorted(self._hosts)

    # -- feeding -----------------------------------------------------------
    async def attach(self, nc: Client) -> None:
        await self.rewatch(nc)
        self._tasks.append(asyncio.create_task(self._check(), name="fleet-liveness-check"))

    async def rewatch(self, nc: Client) -> None:
        """(Re)start watching the bucket: nats-py's KV watcher does not survive a server restart."""
        if self._watch_task is not None:
            await cancel_and_wait([self._watch_task])
        kv = await hosts_bucket(nc, self.ttl)
        watcher = await kv.watchall()
        self._watch_task = asyncio.create_task(self._watch(watcher), name="fleet-liveness-watch")

    async def _watch(self, watcher: KeyValue.KeyWatcher) -> None:
        while True:
            try:
                entry = await watcher.updates(timeout=3600)
            except TimeoutError:
                continue
            except (nats.errors.Error, OSError) as e:  # the link is reconnecting: the watcher resumes with it
                log.debug("liveness watch: %s", e)
                await asyncio.sleep(self.check_every)
                continue
            if entry is None or entry.value is None or entry.operation not in (None, "PUT"):
                continue
            try:
                hb = decode_heartbeat(entry.value)
            except InvalidInput as e:
                log.warning("ignoring a heartbeat under %r: %s", entry.key, e)
                continue
            await self.seen(hb)

    async def seen(self, hb: Heartbeat) -> None:
        """A heartbeat arrived (the watcher calls this; so can a test)."""
        view = self._hosts.get(hb.host)
        now = self.clock.time()
        if view is None:
            self._hosts[hb.host] = HostView(hb.host, hb, now)
            return
        was_silent = view.silent
        view.heartbeat, view.seen_at, view.silent = hb, now, False
        if was_silent:
            log.info("host %s is back", hb.host)
            if self.on_back is not None:
                await self._call(self.on_back, view)
            view.silent_since = None

    async def _check(self) -> None:
        while True:
            await asyncio.sleep(self.check_every)
            await self.check()

    async def check(self) -> None:
        """Call silent every host whose last heartbeat is older than the TTL.

        Not while this front's own link is down: then every host would look silent. When
        the link returns, each host gets a fresh TTL to be heard from again.
        """
        now = self.clock.time()
        if not self.link_up():
            self._paused = True
            return
        if self._paused:
            self._paused = False
            for view in self._hosts.values():
                view.seen_at = max(view.seen_at, now)
            return
        for view in list(self._hosts.values()):
            if not view.silent and view.host != self.self_host and now - view.seen_at > self.ttl:
                view.silent, view.silent_since = True, view.seen_at
                log.warning("host %s silent since its heartbeat %.0fs ago", view.host, now - view.seen_at)
                if self.on_silent is not None:
                    await self._call(self.on_silent, view)

    async def _call(self, cb: HostCallback, view: HostView) -> None:
        try:
            await cb(view)
        except Exception:  # boundary: a failing alert must not stop liveness for every other host
            log.exception("host liveness callback failed for %s", view.host)

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._tasks.append(self._watch_task)
            self._watch_task = None
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
