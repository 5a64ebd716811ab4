"""The interfaces between core and the adapters.

Adapters call a :class:`CommandHandler` (the dispatcher) and, for alerts and
digests, implement :class:`Messenger`. Neither side knows the other's
internals, so an adapter holds no business rules. A destination that hands
outbox entries on to another outbox instead of posting them (the fleet's
relay from a host to its front) implements :class:`Forwarder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeGuard

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


@dataclass(frozen=True)
class Envelope:
    """One outbox entry whole, as a :class:`Forwarder` is handed it.

    Why more than a channel and a Reply: a forwarder passes the entry on to another outbox, and
    what makes the entry itself (its id or dedup key, when it was made) is what lets the next hop
    store it once however often it is sent again after a crash.
    """

    entry_id: int
    created_at: float
    dedup_key: str | None
    destination: str          # "slack:C123"
    action: str               # post | reply | update
    reply: Reply              # the newest payload: queued edits coalesce
    parent_ref: str | None    # the message ref of the entry this one updates or replies to, once delivered


class Forwarder(Protocol):
    """Takes whole outbox entries for one platform and hands them on. Raises ``DeliveryError``.

    The outbox treats it as it treats a Messenger (lanes, retries, ``NotReady`` while it cannot
    send yet, dedup keys); only the last step differs: the entry is not rendered as a post, an
    edit or a thread reply, it is handed over as an :class:`Envelope` for the other side to do that.
    """

    platform: str

    async def forward(self, envelope: Envelope) -> str:
        """Hand the entry on; returns the reference recorded as its message ref (an update's parent names it)."""


def forwards(target: Messenger | Forwarder) -> TypeGuard[Forwarder]:
    """Whether the outbox hands ``target`` whole entries (a :class:`Forwarder`) rather than posts."""
    return callable(getattr(target, "forward", None))
