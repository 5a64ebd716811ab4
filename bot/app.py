"""Assembles procbot from a Config: registry, supervisor, scanner, dispatcher, adapters.

The daemon, the tests and the benchmarks all build procbot through
:class:`App`, so they exercise the same wiring. Everything passed in
(clock, environment, output) is what tests control.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from adapters.console.adapter import ConsoleAdapter
from bot.config_loader import load_config_isolated
from bot.event_recorder import EventRecorder
from bot.limits import raise_nofile_limit
from bot.startup_memory import release_startup_memory
from bot.state_dir import ensure_state_dir
from core.alerts.silences import Silences
from core.clock import Clock, SystemClock
from core.commands.dispatcher import Dispatcher
from core.commands.permissions import Permissions
from core.errors import ProcbotError
from core.logd.client import LogDaemonClient
from core.ports import CommandHandler, Forwarder, Messenger
from core.process.events import EventBus
from core.process.memory_limit import MemoryGuard
from core.process.scanner import Scanner
from core.process.supervisor import Supervisor
from core.spec import Config
from core.store.live import supervisor_live_state
from core.store.registry import Registry
from core.store.retention import prune_history

log = logging.getLogger(__name__)

MAINTENANCE_EVERY = 3600.0
ADAPTER_STOP_TIMEOUT = 10.0


class App:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        console_out: TextIO | None = None,
        console_events: bool = True,
        with_adapters: bool = True,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.environ = dict(os.environ if environ is None else environ)
        self.host = config.host()
        self.bus = EventBus()
        self.registry = Registry(config.state_dir / "procbot.db")
        self.logs = LogDaemonClient(config.state_dir, config.log_dir, bus=self.bus)
        self.supervisor = Supervisor(config, self.registry, self.bus, self.clock, self.environ, logs=self.logs)
        self.registry.live_state = lambda: supervisor_live_state(self.supervisor)
        memory = MemoryGuard(lambda: self.supervisor.runners, self.bus, self.clock, self.supervisor.own)
        self.scanner = Scanner(self.supervisor, self.registry, self.clock, config.procbot.scan_interval,
                               config.procbot.tree_scan_every, memory=memory)
        self.silences = Silences(self.registry, self.clock)
        self.permissions = Permissions(config.permissions, host=self.host)
        self.dispatcher = Dispatcher(
            supervisor=self.supervisor, scanner=self.scanner, registry=self.registry,
            permissions=self.permissions, silences=self.silences, clock=self.clock, host=self.host,
            confirm_timeout=config.permissions.confirm_timeout, reload=self.reload,
        )
        #: what chat adapters hand commands to: the dispatcher, or the fleet's router in front of it
        self.commands: CommandHandler = self.dispatcher
        self.recorder = EventRecorder(self.bus, self.registry)
        self.console = ConsoleAdapter(self.bus, console_out, show_events=console_events)
        #: where alerts go, by platform: chat Messengers, or on a fleet host the relay to the front (a Forwarder)
        self.messengers: dict[str, Messenger | Forwarder] = {"console": self.console}
        self.adapters: list[Any] = []
        #: platform -> what starts its adapter instead of the App (a front's Discord lease, bot/fleet/gateway.py)
        self.adapter_starters: dict[str, Callable[[Any], Awaitable[None]]] = {}
        self._with_adapters = with_adapters
        self._tasks: list[asyncio.Task[None]] = []
        self.extensions: list[Any] = []  # services with async start()/stop() (alerts, digests)
        #: told each config a reload applied (restart_cron jobs follow the programs)
        self.reloaded: list[Callable[[Config], None]] = []

    async def start(self) -> None:
        raise_nofile_limit()  # one pidfd per program: 1,000 programs would hit the default 1024
        ensure_state_dir(self.config.state_dir, self.config.source)  # 0700 if new; never re-moded
        await self.registry.open()
        await self.silences.load()
        self.recorder.start()
        await self.console.start()
        for ext in self.extensions:
            await ext.start()
        await self.logs.start()
        await self.supervisor.start()
        await self.scanner.scan()
        self._tasks.append(asyncio.create_task(self.scanner.run(), name="scanner"))
        self._tasks.append(asyncio.create_task(self._maintenance(), name="maintenance"))
        if self._with_adapters:
            await self._start_adapters()
        release_startup_memory()

    async def _start_adapters(self) -> None:
        from bot.platforms import build_adapters

        for adapter in build_adapters(self.config, self.commands, self.environ, self.clock, self.host):
            self.adapters.append(adapter)
            self.messengers[adapter.platform] = adapter
            starter = self.adapter_starters.get(adapter.platform)
            # returns at once; the adapter connects and retries on its own
            await (starter(adapter) if starter is not None else adapter.start())

    async def _maintenance(self) -> None:
        keep = self.config.procbot.sample_retention_days * 86400
        while True:
            await asyncio.sleep(MAINTENANCE_EVERY)
            now = self.clock.time()
            try:
                await self.registry.thin_samples(now - 86400, 900.0)
                await self.registry.prune(now - keep)
                await prune_history(self.registry, self.config.procbot, now)
            except ProcbotError as e:
                log.error("registry maintenance failed: %s", e)

    async def reload(self) -> str:
        """Re-read the config file and apply program changes, like ``supervisorctl update``."""
        new = await asyncio.to_thread(load_config_isolated, Path(self.config.source))
        summary = await self.supervisor.apply_config(new)
        self.config = new
        for hook in self.reloaded:
            hook(new)
        self.permissions.settings = new.permissions
        return summary

    async def stop(self, stop_programs: bool | None = None) -> None:
        """Graceful shutdown, so nothing is lost.

        Alerting stops first (its outbox keeps anything unsent for the next
        run, and no delivery is cut off by a closing adapter), then the
        adapters (no new commands), background work, and last the programs.
        """
        if stop_programs is None:
            stop_programs = self.config.procbot.stop_programs_on_exit
        for ext in reversed(self.extensions):
            await ext.stop()
        for adapter in reversed(self.adapters):
            try:
                # a platform that stops answering must not hold the whole shutdown hostage
                await asyncio.wait_for(adapter.stop(), ADAPTER_STOP_TIMEOUT)
            except TimeoutError:
                log.error("the %s adapter did not stop within %ss; going on", adapter.platform, ADAPTER_STOP_TIMEOUT)
            except Exception:
                log.exception("stopping the %s adapter failed", adapter.platform)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.scanner.close()
        await self.supervisor.shutdown(stop_programs)
        await self.logs.close()
        try:
            await self.scanner.flush(final=True)
        except ProcbotError as e:  # a full disk must not stop the shutdown; only these samples are lost
            log.error("could not write the last samples: %s", e)
        await self.recorder.stop()
        await self.console.stop()
        await self.registry.close()
