"""``install_fleet(app)``: the one call that joins an App to the fleet (a no-op without [cluster])."""

from __future__ import annotations

from typing import Any

from bot.app import App
from bot.fleet.node import FleetNode


def install_fleet(app: App, *, alerting: Any = None, reconnect_wait: float = 2.0,
                  check_every: float = 0.25) -> FleetNode | None:
    """Build the fleet pieces for ``app`` and register them as an extension (before ``app.start()``).

    ``alerting`` is what ``install_extensions`` returned, when alerts are installed: a host then
    relays its outbox to the front, and a front consumes the fleet's events into its own.
    """
    if app.config.cluster is None:
        return None
    node = FleetNode(app, reconnect_wait=reconnect_wait, check_every=check_every)
    app.extensions.append(node)
    return node
