"""Confirmations pending for mass actions: who asked, for what, until when.

A chat caller who would start, stop or restart several programs gets a
prompt with a Confirm and a Cancel button carrying a one-time token; only
the same person on the same platform may press it, before it expires.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from core import formatting as fmt
from core.actor import CommandContext
from core.clock import Clock
from core.commands.grammar import Command
from core.reply import Button, Reply, Tone


@dataclass
class Pending:
    command: Command
    user: str
    platform: str
    channel: str | None
    expires: float
    #: the fleet hosts a front sends the command to once confirmed (empty: this host's own dispatcher)
    hosts: tuple[str, ...] = ()

    def asked_by(self, ctx: CommandContext) -> bool:
        return self.user == ctx.actor.user_id and self.platform == ctx.actor.platform


class Confirmations:
    def __init__(self, clock: Clock, timeout: float) -> None:
        self.clock = clock
        self.timeout = timeout
        self._pending: dict[str, Pending] = {}

    def ask(self, cmd: Command, ctx: CommandContext, programs: list[str], hosts: tuple[str, ...] = ()) -> Reply:
        """Hold ``cmd`` (for ``hosts``, on a front) under a new token and return the prompt that carries it."""
        self._expire()
        token = secrets.token_urlsafe(9)
        self._pending[token] = Pending(cmd, ctx.actor.user_id, ctx.actor.platform, ctx.channel,
                                       self.clock.monotonic() + self.timeout, hosts)
        shown = ", ".join(programs[:15]) + (f" and {len(programs) - 15} more" if len(programs) > 15 else "")
        return Reply(
            title=f"{cmd.verb.capitalize()} {len(programs)} programs?",
            text=f"This will {cmd.verb} {shown}. Only you can confirm; "
            f"this expires in {fmt.duration(self.timeout)}.",
            tone=Tone.WARN,
            buttons=[
                Button("Confirm", f"confirm:{token}", "danger"),
                Button("Cancel", f"cancel:{token}", "default"),
            ],
            data={"confirm": token, "programs": programs},
        )

    def get(self, token: str) -> Pending | None:
        """The command held under ``token``, unless it expired or was used."""
        self._expire()
        return self._pending.get(token)

    def discard(self, token: str) -> None:
        self._pending.pop(token, None)

    def _expire(self) -> None:
        now = self.clock.monotonic()
        for k in [k for k, p in self._pending.items() if p.expires <= now]:
            del self._pending[k]
