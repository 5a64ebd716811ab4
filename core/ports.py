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
    """Posts alerts and digests to one platform. Raises ``DeliveryError``.

    A destination states what it can do, so core never asks which platform it
    is: where ``can_edit`` is False (a webhook) the outbox posts a follow-up
    message instead of calling ``update``, in the thread of the message it
    would have edited; where ``can_thread`` is False it posts top-level
    instead of passing ``thread_ref``.
    """

    platform: str
    can_edit: bool = True
    can_thread: bool = True

    async def post(self, channel: str, reply: Reply, thread_ref: str | None = None) -> str:
        """Post a message (optionally as a thread reply); returns the platform's message reference."""

    async def update(self, channel: str, ref: str, reply: Reply) -> None:
        """Replace a posted message in place (never called when ``can_edit`` is False)."""


def can_edit(messenger: Messenger) -> bool:
    """``messenger.can_edit``; a Messenger that does not say (a test double, an older adapter) can."""
    return bool(getattr(messenger, "can_edit", True))


def can_thread(messenger: Messenger) -> bool:
    """``messenger.can_thread``; a Messenger that does not say can."""
    return bool(getattr(messenger, "can_thread", True))
