"""The interfaces between core and the adapters.

Adapters call a :class:`CommandHandler` (the dispatcher) and, for alerts and
digests, implement :class:`Messenger`. Neither side knows the other's
internals, so an adapter holds no business rules.
"""

from __future__ import annotations

from typing import Protocol

from core.actor import CommandContext
from core.reply import Reply


class CommandHandler(Protocol):
    async def handle(self, text: str, ctx: CommandContext) -> Reply:
        """Parse, authorise, audit and run one command; never raises for bad input."""

    async def press(self, value: str, ctx: CommandContext) -> Reply:
        """Act on a button press (``Button.value``) as the user who pressed it."""

    async def complete(self, prefix: str, ctx: CommandContext, verb: str | None = None) -> list[str]:
        """Program names (and ``group:`` names) this actor may use, for autocomplete."""

    def groups_of_interest(self, platform: str) -> set[str]:
        """Group/role IDs that any grant mentions (Slack adapters resolve only these)."""

    async def refused(self, ctx: CommandContext, command: str, reason: str) -> None:
        """Audit a request the adapter refused itself, before the dispatcher saw it."""


class Messenger(Protocol):
    """Posts alerts and digests to one platform. Raises ``DeliveryError``."""

    platform: str

    async def post(self, channel: str, reply: Reply, thread_ref: str | None = None) -> str:
        """Post a message (optionally as a thread reply); returns the platform's message reference."""

    async def update(self, channel: str, ref: str, reply: Reply) -> None:
        """Replace a posted message in place."""
