"""Everything ``[cluster]`` adds to one App, started and stopped as an App extension.

Every member serves commands for its own programs and heartbeats; a
*front* also watches the other hosts' liveness and routes ``@host``
commands (``FleetNode.commands`` stands in for the dispatcher at the
adapters and the control socket). None of it can stop local supervision:
the link connects in the background and everything waits for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.app import App
from bot.fleet.credentials import cluster_credentials, fleet_host
from bot.platforms import chat_ready
from core.commands.confirm import Confirmations
from core.fleet.client import FleetClient
from core.fleet.hosts import FleetHosts, procbot_version
from core.fleet.link import FleetLink
from core.fleet.liveness import HeartbeatSender, Liveness
from core.fleet.router import FleetCommands
from core.fleet.service import CommandService
from core.process.states import FAILED_STATES
from core.spec import Config

if TYPE_CHECKING:
    from bot.fleet.gateway import DiscordGateway

log = logging.getLogger(__name__)

# TODO(merge): core.process.states.FAILED_STATES | DOWN_STATES once helper A's sets land


def is_front(config: Config, environ: dict[str, str]) -> bool:
    """A front serves chat for the fleet: role = "front", or role = "auto" and chat credentials are here."""
    assert config.cluster is not None
    if config.cluster.role != "auto":
        return config.cluster.role == "front"
    return chat_ready(config, environ)


class FleetNode:
    def __init__(self, app: App, *, reconnect_wait: float = 2.0, check_every: float = 0.25) -> None:
        settings = app.config.cluster
        assert settings is not None, "FleetNode needs a [cluster] table"
        self.app = app
        self.settings = settings
        self.host = fleet_host(app.config)
        self.front = is_front(app.config, app.environ)
        creds = cluster_credentials(settings, app.config, app.environ)
        self.secrets = creds.secrets
        self.link = FleetLink(self.host, creds.options, app.clock, reconnect_wait=reconnect_wait)
        self.service = CommandService(self.host, app.dispatcher)
        self.heartbeat = HeartbeatSender(self.host, self._snapshot, app.clock, interval=settings.heartbeat_interval,
                                         ttl=settings.heartbeat_ttl, version=procbot_version(), front=self.front,
                                         inventory=self._inventory)
        self.liveness = Liveness(app.clock, ttl=settings.heartbeat_ttl, check_every=check_every,
                                 link_up=lambda: self.link.up, self_host=self.host)
        self.client = FleetClient(self.link, self.liveness, timeout=settings.request_timeout)
        self.commands = FleetCommands(app.dispatcher, self.client, self.liveness, self.host, app.permissions,
                                      local_inventory=self._inventory,
                                      confirmations=Confirmations(app.clock,
                                                                  app.config.permissions.confirm_timeout))
        self.hosts = FleetHosts(self.liveness, front=self.front, link_note=self.link.status_note)
        self.link.on_connect(self.service.attach)
        self.link.on_connect(self.heartbeat.attach)
        if self.front:
            self.link.on_connect(self.liveness.attach)
            self.link.on_reconnect(self.liveness.rewatch)
        self.consumer: object = None
        #: the Discord gateway lease, on a front with the Discord token (bot/fleet/gateway.py)
        self.gateway: DiscordGateway | None = None
        self._stoppers = [self.heartbeat.stop, self.liveness.stop, self.service.stop]

    def _snapshot(self) -> tuple[int, list[str]]:
        states = self.app.supervisor.states()
        return len(states), sorted(s.name for s in states if s.state in FAILED_STATES)

    def _inventory(self) -> tuple[list[str], list[str]]:
        states = self.app.supervisor.states()
        return sorted(s.name for s in states), sorted({s.group for s in states if s.group})

    def add_stopper(self, stop: object) -> None:
        self._stoppers.insert(0, stop)  # type: ignore[arg-type]

    async def start(self) -> None:
        await self.link.start()

    async def stop(self) -> None:
        for stop in self._stoppers:
            await stop()
        await self.link.stop()
