"""``install_fleet(app)``: the one call that joins an App to the fleet (a no-op without [cluster])."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.app import App
from bot.extensions import Alerting

if TYPE_CHECKING:
    from bot.fleet.node import FleetNode

#: platforms whose alerts a host without their credentials hands to the front
RELAYED_PLATFORMS = ("slack", "discord")


def install_fleet(app: App, *, alerting: Alerting | None = None, reconnect_wait: float = 2.0,
                  check_every: float = 0.25) -> FleetNode | None:
    """Build the fleet pieces for ``app`` and register them as an extension (before ``app.start()``).

    ``alerting`` is what ``install_extensions`` returned, when alerts are installed: a host then
    relays its chat alerts to the front through JetStream; a front consumes them into its own
    outbox and turns a silent host into an incident.
    """
    if app.config.cluster is None:
        return None
    # imported here: a single host (no [cluster]) never loads nats-py
    from bot.fleet.node import FleetNode
    from core.alerts.recording import route_destinations
    from core.fleet.consumer import FrontConsumer
    from core.fleet.digests import DigestSections, FleetDigests
    from core.fleet.host_alerts import HostSilenceAlerts
    from core.fleet.publisher import OutboxRelay
    from core.fleet.streams import ensure_stream

    node = FleetNode(app, reconnect_wait=reconnect_wait, check_every=check_every)
    settings = app.config.cluster
    if alerting is not None and not node.front:
        for platform in RELAYED_PLATFORMS:
            if platform not in app.messengers:
                app.messengers[platform] = OutboxRelay(node.link, node.host, platform)

        async def stream(nc: object) -> None:
            await ensure_stream(nc.jetstream(), settings.stream_max_age)  # type: ignore[attr-defined]

        node.link.on_connect(stream)
    if alerting is not None and node.front:
        consumer = FrontConsumer(alerting.outbox, stream_max_age=settings.stream_max_age)
        node.consumer = consumer
        node.link.on_connect(consumer.attach)
        node.add_stopper(consumer.stop)
        silence = HostSilenceAlerts(alerting.outbox, lambda: route_destinations(app.config.alerts.route),
                                    app.clock)
        node.liveness.on_silent = silence.silent
        node.liveness.on_back = silence.back
    if alerting is not None:  # every member answers for its digest section; a front's digests cover the fleet
        sections = DigestSections(alerting.builder)
        node.service.on_kind("digest", sections.answer)
        if node.front:
            alerting.digests.gather = FleetDigests(node.client, node.liveness, node.host, sections)
    if node.front and _has_discord(app):  # one gateway session per token: the fronts take turns by lease
        from bot.fleet.gateway import DiscordGateway

        gateway = DiscordGateway(node.host, app.clock, ttl=settings.heartbeat_ttl,
                                 interval=settings.heartbeat_interval)
        node.gateway = gateway
        node.link.on_connect(gateway.lease.attach)
        node.add_stopper(gateway.stop)
        app.adapter_starters["discord"] = gateway.adopt
    app.dispatcher.notes = _Notes(app.dispatcher.notes, node)
    app.dispatcher.fleet = node.hosts  # `/proc hosts`
    app.commands = node.commands  # chat adapters reach every host through the front's router
    app.extensions.append(node)
    return node


def _has_discord(app: App) -> bool:
    from bot.platforms import BY_NAME

    discord = BY_NAME["discord"]
    return discord.configured(app.config) and discord.credentials(app.config, app.environ) is not None


class _Notes:
    """``/proc status`` lines: the outbox's, the fleet link's while it is down, and Discord's while standing by."""

    def __init__(self, inner: object, node: FleetNode) -> None:
        self.inner = inner
        self.node = node

    def status_notes(self) -> list[str]:
        link = self.node.link.status_note()
        gateway = self.node.gateway.status_note() if self.node.gateway is not None else None
        inner = self.inner.status_notes() if self.inner is not None else []  # type: ignore[attr-defined]
        return [*([link] if link else []), *([gateway] if gateway else []), *inner]
