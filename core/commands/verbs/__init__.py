"""The handlers of the catalog's verbs, one module per family.

A handler is ``async def handler(env, cmd, ctx, programs) -> Reply``: the
dispatcher has already parsed, resolved the target to ``programs``, checked
permissions and confirmed; the handler only acts and says what happened.
Each catalog entry names its handler as ``"<module>.<function>"``;
:func:`handler_for` finds it, and the dispatcher resolves every verb when it
is built, so a catalog entry without a handler fails at start-up (and in the
tests), never at the first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from core.actor import CommandContext
    from core.alerts.silences import Silences
    from core.clock import Clock
    from core.commands.catalog import Verb
    from core.commands.grammar import Command
    from core.commands.permissions import Permissions
    from core.fleet.hosts import HostRow
    from core.process.scanner import Scanner
    from core.process.supervisor import Supervisor
    from core.reply import Reply
    from core.store.registry import Registry


class DigestPoster(Protocol):
    async def post_now(self, by: str) -> Reply: ...


class StatusNotes(Protocol):
    def status_notes(self) -> list[str]: ...


class FleetView(Protocol):
    """What ``hosts`` reads on a fleet member (core.fleet.hosts.FleetHosts): every host it knows, this one
    as ``here``, and notes."""

    def host_rows(self, here: HostRow, now: float) -> tuple[list[HostRow], list[str]]: ...


@dataclass
class Services:
    """What handlers act on. ``digests``, ``notes`` and ``fleet`` are plugged in after start-up
    (bot.extensions, bot.fleet.install)."""

    supervisor: Supervisor
    scanner: Scanner
    registry: Registry
    permissions: Permissions
    silences: Silences
    clock: Clock
    host: str
    reload: Callable[[], Awaitable[str]] | None = None
    digests: DigestPoster | None = None
    notes: StatusNotes | None = None
    fleet: FleetView | None = None


Handler = Callable[["Services", "Command", "CommandContext", list[str]], Awaitable["Reply"]]


def handler_for(verb: Verb) -> Handler:
    module, _, name = verb.handler.partition(".")
    handler: Handler = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return handler
