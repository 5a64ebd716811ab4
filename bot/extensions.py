"""Services the daemon adds to the App beyond the core (alerts, digests)."""

from __future__ import annotations

from bot.app import App


def install_extensions(app: App) -> None:
    """Attach alerting and digests; a no-op until those services exist."""
    return None
