"""The front's command handler: this host's dispatcher, plus the fleet behind ``@host``.

Stands where the dispatcher stood (it is a :class:`~core.ports.CommandHandler`
and answers the control socket's ``audit_refusal`` too), so adapters need no
change. A command without a host part whose target is a program (or a
``group:NAME``) goes to every host that has it, by the names in their
heartbeats: one host, as if ``@thathost`` were written; several, their
replies merged when the verb only reads, or a Confirm/Cancel prompt first
when it changes something (a mass action, held in :class:`Confirmations`
like the dispatcher's own); none, to the local dispatcher, whose not-found
answer suggests names. Any other command without a host part goes to the
local dispatcher as before, except bare ``status``, which covers every host. ``@host`` goes to
that host; ``@glob`` to every known matching host, their replies merged, one
section per host, silent hosts named. Buttons on a remote reply are
rewritten to ``fleet:<host>:<value>`` so a press goes back to the host whose
dispatcher holds the confirmation.

Permissions are decided here, once, against this front's [permissions]: a
command for other hosts is checked for every host it targets before anything
is sent (refused whole, and audited here naming the hosts, when one is not
allowed), and each request carries the actor and the front's decision for
that host, which the host applies instead of its own grants.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from core.actor import CommandContext, Decision
from core.clock import Clock
from core.commands.catalog import BY_NAME
from core.commands.confirm import Confirmations
from core.commands.grammar import Command, parse
from core.commands.permissions import Permissions
from core.errors import (
    ConfirmationExpired,
    FleetUnavailable,
    HostOffline,
    HostsRefused,
    HostTimeout,
    InvalidInput,
    ProcbotError,
    Unauthorized,
)
from core.fleet.client import FleetClient
from core.fleet.liveness import Liveness
from core.fleet.targets import HostedCommand, split_host
from core.formatting import ago
from core.reply import Button, Field, Reply, Table, Tone

PRESS_PREFIX = "fleet:"
#: the "host" of a press on the front's own mass-action prompt (no host name can hold ``*``)
MASS = "*"
_FLEET_ERRORS = (FleetUnavailable, HostOffline, HostTimeout)


class FleetCommands:
    def __init__(self, local: object, client: FleetClient, liveness: Liveness, host: str,
                 permissions: Permissions, *, local_inventory: Callable[[], tuple[list[str], list[str]]] | None = None,
                 confirmations: Confirmations | None = None) -> None:
        self.local = local
        self.client = client
        self.liveness = liveness
        self.host = host
        self.perms = permissions
        #: this host's own program and group names (fresher than its own heartbeat)
        self.local_inventory = local_inventory
        clock: Clock = client.link.clock
        self.confirmations = confirmations or Confirmations(clock, 120.0)

    # -- CommandHandler ------------------------------------------------------
    async def handle(self, text: str, ctx: CommandContext) -> Reply:
        try:
            cmd = split_host(text)
        except InvalidInput as e:
            return Reply.error(e)
        if cmd.hosts is None:
            if cmd.text.strip().lower() in ("status", "ps", "st") and self.liveness.names():
                return await self._many(HostedCommand(cmd.text, "*"), ctx)
            return await self._bare(cmd.text, ctx)
        if not cmd.is_glob:
            return await self._one(cmd.hosts, cmd.text, ctx)
        return await self._many(cmd, ctx)

    async def _decide(self, text: str, ctx: CommandContext, hosts: list[str]) -> dict[str, Decision] | Reply:
        """The front's decision for each target host, or the refusal (audited here, naming the hosts).

        Text the grammar refuses goes on undecided (no role at all): the host answers
        the same error a local command gets, and audits it.
        """
        try:
            verb = parse(text).verb
        except InvalidInput:
            return {h: Decision("none") for h in hosts}
        try:
            return self.perms.decide_hosts(ctx.actor, ctx.channel, verb, hosts)
        except HostsRefused as e:
            await self.local.audit_refusal(ctx, text, "refused", str(e),  # type: ignore[attr-defined]
                                           host=",".join(e.hosts))
            return Reply.error(e)

    async def press(self, value: str, ctx: CommandContext) -> Reply:
        if not value.startswith(PRESS_PREFIX):
            return await self.local.press(value, ctx)  # type: ignore[attr-defined]
        host, _, inner = value[len(PRESS_PREFIX):].partition(":")
        if host == MASS:
            return await self._press_mass(inner, ctx)
        if host == self.host:
            return await self.local.press(inner, ctx)  # type: ignore[attr-defined]
        # what the button does is the host's (a pending confirmation): it applies this decision to it
        decided = _deciding(ctx, self.perms.decide(ctx.actor, ctx.channel, host))
        try:
            return _tagged(await self.client.send(host, inner, decided, kind="press"), host)
        except _FLEET_ERRORS as e:
            return Reply.error(e)

    async def complete(self, prefix: str, ctx: CommandContext, verb: str | None = None) -> list[str]:
        return await self.local.complete(prefix, ctx, verb)  # type: ignore[attr-defined]

    def groups_of_interest(self, platform: str) -> set[str]:
        return self.local.groups_of_interest(platform)  # type: ignore[attr-defined,no-any-return]

    async def refused(self, ctx: CommandContext, command: str, reason: str) -> None:
        await self.local.refused(ctx, command, reason)  # type: ignore[attr-defined]

    async def audit_refusal(self, ctx: CommandContext, text: str, outcome: str, detail: str,
                            host: str | None = None) -> None:
        await self.local.audit_refusal(ctx, text, outcome, detail, host=host)  # type: ignore[attr-defined]

    # -- routing -------------------------------------------------------------
    def holders(self, cmd: Command) -> list[str]:
        """The hosts that have the program (or group) a bare command names, by their last heartbeats."""
        if cmd.target is None or cmd.target.kind not in ("program", "group"):
            return []
        group = cmd.target.kind == "group"
        name = cmd.target.value
        out = []
        for view in self.liveness.hosts():
            if view.host == self.host:
                continue
            hb = view.heartbeat
            if name in (hb.group_names if group else hb.program_names):
                out.append(view.host)
        if self.local_inventory is not None:
            programs, groups = self.local_inventory()
        else:
            own = self.liveness.get(self.host)
            programs, groups = (own.heartbeat.program_names, own.heartbeat.group_names) if own else ([], [])
        if name in (groups if group else programs):
            out.append(self.host)
        return sorted(out)

    async def _bare(self, text: str, ctx: CommandContext) -> Reply:
        """A command without a host part: to the hosts that have its program, else this host's dispatcher."""
        try:
            cmd = parse(text)
        except InvalidInput:
            cmd = None
        spec = BY_NAME.get(cmd.verb) if cmd is not None else None
        hosts = self.holders(cmd) if cmd is not None and spec is not None and spec.program_scoped else []
        if not hosts or hosts == [self.host]:
            return await self.local.handle(text, ctx)  # type: ignore[attr-defined]
        if len(hosts) == 1:
            return await self._one(hosts[0], text, ctx)
        assert cmd is not None and spec is not None
        if spec.read_only:
            return await self._many(HostedCommand(text, None), ctx, hosts)
        decisions = await self._decide(text, ctx, hosts)  # refused before anyone is asked to confirm
        if isinstance(decisions, Reply):
            return decisions
        if ctx.actor.local:  # this front's own CLI or console: never asked, as with the dispatcher
            return await self._many(HostedCommand(text, None), ctx, hosts)
        prompt = self.confirmations.ask(cmd, ctx, [f"{cmd.target}@{h}" for h in hosts], tuple(hosts))
        prompt.buttons = [replace(b, value=f"{PRESS_PREFIX}{MASS}:{b.value}") for b in prompt.buttons]
        prompt.data["hosts"] = hosts
        await self.local.audit_refusal(ctx, cmd.text, "confirm", f"{len(hosts)} hosts",  # type: ignore[attr-defined]
                                       host=",".join(hosts))
        return prompt

    async def _press_mass(self, value: str, ctx: CommandContext) -> Reply:
        """Confirm or Cancel pressed on this front's mass-action prompt: the dispatcher's rules for its own."""
        kind, _, token = value.partition(":")
        pending = self.confirmations.get(token) if kind in ("confirm", "cancel") else None
        if pending is None:
            err: ProcbotError = ConfirmationExpired(
                "This confirmation has expired or was already used. Run the command again.")
            await self.audit_refusal(ctx, f"{kind} (expired)", "refused", str(err))
            return Reply.error(err)
        text, hosts = pending.command.text, ",".join(pending.hosts)
        if not pending.asked_by(ctx):
            err = Unauthorized("Only the person who asked can confirm or cancel this.")
            await self.audit_refusal(ctx, f"{kind} {text}", "refused", str(err), host=hosts)
            return Reply.error(err)
        self.confirmations.discard(token)
        if kind == "cancel":
            await self.audit_refusal(ctx, f"cancel {text}", "ok", "", host=hosts)
            return Reply(title="Cancelled", text=f"`{text}` was not run.", tone=Tone.INFO)
        return await self._many(HostedCommand(text, None), ctx, list(pending.hosts))

    async def _one(self, host: str, text: str, ctx: CommandContext) -> Reply:
        if host == self.host:
            return await self.local.handle(text, ctx)  # type: ignore[attr-defined]
        decisions = await self._decide(text, ctx, [host])
        if isinstance(decisions, Reply):
            return decisions
        try:
            return _tagged(await self.client.send(host, text, _deciding(ctx, decisions[host])), host)
        except _FLEET_ERRORS as e:
            return Reply.error(e)

    async def _many(self, cmd: HostedCommand, ctx: CommandContext, hosts: list[str] | None = None) -> Reply:
        """``cmd`` on every host its glob matches (or on ``hosts``), permission decided for each, replies merged."""
        if hosts is None:
            hosts = sorted(set(cmd.matching([*self.liveness.names(), self.host])))
        if not hosts:
            return Reply.error(InvalidInput(f"No known host matches `{cmd.hosts}` "
                                            f"(known: {', '.join([self.host, *self.liveness.names()])})."))
        decisions = await self._decide(cmd.text, ctx, hosts)
        if isinstance(decisions, Reply):
            return decisions
        silent = {v.host for v in self.liveness.hosts() if v.silent}
        asking = [h for h in hosts if h not in silent]
        replies = await asyncio.gather(*(self._ask(h, cmd.text, _deciding(ctx, decisions[h])) for h in asking))
        return merge(dict(zip(asking, replies, strict=True)), [h for h in hosts if h in silent], self.liveness,
                     self.client.link.clock.time())

    async def _ask(self, host: str, text: str, ctx: CommandContext) -> Reply | ProcbotError:
        try:
            return await self._one_raw(host, text, ctx)
        except _FLEET_ERRORS as e:
            return e

    async def _one_raw(self, host: str, text: str, ctx: CommandContext) -> Reply:
        if host == self.host:  # this host's own dispatcher checks it again: the same grants, the same answer
            return await self.local.handle(text, _undecided(ctx))  # type: ignore[attr-defined,no-any-return]
        return _tagged(await self.client.send(host, text, ctx), host)


def _deciding(ctx: CommandContext, decision: Decision) -> CommandContext:
    """The context a host receives: the same actor and channel, and the front's decision for that host."""
    return replace(ctx, actor=replace(ctx.actor, decided=decision))


def _undecided(ctx: CommandContext) -> CommandContext:
    return replace(ctx, actor=replace(ctx.actor, decided=None))


def _tagged(reply: Reply, host: str) -> Reply:
    """A remote reply whose buttons come back here as ``fleet:<host>:<value>``."""
    if reply.buttons:
        reply.buttons = [replace(b, value=f"{PRESS_PREFIX}{host}:{b.value}") for b in reply.buttons]
    reply.data.setdefault("host", host)
    return reply


def merge(replies: dict[str, Reply | ProcbotError], silent: list[str], liveness: Liveness, now: float) -> Reply:
    """One reply for several hosts: tables joined under a ``host`` column, other answers one field per host."""
    columns: list[str] | None = None
    rows: list[list[str]] = []
    states: list[str] = []
    fields: list[Field] = []
    buttons: list[Button] = []
    ok = True
    for host, r in replies.items():
        if isinstance(r, ProcbotError):
            ok = False
            fields.append(Field(host, str(r), inline=False))
            continue
        ok = ok and r.ok
        if r.table is not None and (columns is None or columns == r.table.columns):
            columns = r.table.columns
            rows += [[host, *row] for row in r.table.rows]
            states += r.table.states or [""] * len(r.table.rows)
            if r.text:
                fields.append(Field(host, r.text, inline=False))
        else:
            fields.append(Field(host, r.text or r.title, inline=False))
        buttons += [replace(b, label=f"{b.label} ({host})") for b in r.buttons]
    for host in silent:
        view = liveness.get(host)
        seen = ago(now - view.seen_at) if view else "never"
        fields.append(Field(host, f"silent (last seen {seen})", inline=False))
    hosts = len(replies) + len(silent)
    return Reply(
        title=f"{hosts} host{'s' if hosts != 1 else ''}" + (f", {len(silent)} silent" if silent else ""),
        tone=Tone.OK if ok and not silent else Tone.WARN,
        fields=fields,
        table=Table(["host", *columns], rows, states) if columns is not None else None,
        buttons=buttons,
        ephemeral=all(r.ephemeral for r in replies.values() if isinstance(r, Reply)),
        data={"hosts": {h: (r.to_dict() if isinstance(r, Reply) else {"error": str(r), "code": r.code})
                        for h, r in replies.items()}, "silent": silent},
        ok=ok,
    )
