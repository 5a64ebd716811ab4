"""Turns command text into actions and a platform-neutral reply: the pipeline, and nothing else.

Every adapter and the CLI come through here: parse, resolve the target,
check permissions, ask for confirmation when several programs would
change, run the verb's handler (``core.commands.verbs``, named by the
catalog), and write one audit row whatever the outcome, with one
exception: a *local* caller's (CLI, console) successful read-only command
is not audited. The trail is there to answer "who changed or tried what";
the host operator reading state through an owner-only socket changes
nothing, and a script polling `status` every few seconds would otherwise
push every chat command out of view (30 of 64 rows in one run). Chat
reads, every state change and every refusal or error are always audited.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from core.actor import CommandContext
from core.alerts.silences import Silences
from core.clock import Clock
from core.commands.catalog import BY_NAME, VERBS, Verb
from core.commands.confirm import Confirmations
from core.commands.grammar import Command, parse
from core.commands.permissions import Permissions
from core.commands.verbs import DigestPoster, FleetView, Handler, Services, StatusNotes, handler_for
from core.errors import ConfirmationExpired, InvalidInput, NotFound, ProcbotError, Unauthorized
from core.process.scanner import Scanner
from core.process.supervisor import Supervisor
from core.reply import Reply, Tone
from core.spec.instances import family, is_instance
from core.store.registry import Registry

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        *,
        supervisor: Supervisor,
        scanner: Scanner,
        registry: Registry,
        permissions: Permissions,
        silences: Silences,
        clock: Clock,
        host: str,
        confirm_timeout: float = 120.0,
        reload: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self.sup = supervisor
        self.registry = registry
        self.perms = permissions
        self.clock = clock
        self.env = Services(supervisor=supervisor, scanner=scanner, registry=registry, permissions=permissions,
                            silences=silences, clock=clock, host=host, reload=reload)
        self.confirmations = Confirmations(clock, confirm_timeout)
        #: every verb's handler, found now: a catalog entry without one fails at start-up, not at first use
        self._handlers: dict[str, Handler] = {v.name: handler_for(v) for v in VERBS}

    @property
    def digests(self) -> DigestPoster | None:
        return self.env.digests

    @digests.setter
    def digests(self, value: DigestPoster | None) -> None:
        self.env.digests = value

    @property
    def notes(self) -> StatusNotes | None:
        return self.env.notes

    @notes.setter
    def notes(self, value: StatusNotes | None) -> None:
        self.env.notes = value

    @property
    def fleet(self) -> FleetView | None:
        return self.env.fleet

    @fleet.setter
    def fleet(self, value: FleetView | None) -> None:
        self.env.fleet = value

    # -- CommandHandler --------------------------------------------------
    async def handle(self, text: str, ctx: CommandContext) -> Reply:
        try:
            cmd = parse(text)
        except InvalidInput as e:
            await self._audit(ctx, _printable(text), "invalid", str(e))
            return Reply.error(e)
        return await self._run(cmd, ctx, confirmed=False)

    async def press(self, value: str, ctx: CommandContext) -> Reply:
        kind, _, arg = value.partition(":")
        if kind == "cmd":
            return await self.handle(arg, ctx)
        if kind not in ("confirm", "cancel"):
            err: ProcbotError = InvalidInput("Unknown button.")
            await self._audit(ctx, f"button {_printable(value)}", "invalid", str(err))
            return Reply.error(err)
        pending = self.confirmations.get(arg)
        if pending is None:
            err = ConfirmationExpired("This confirmation has expired or was already used. Run the command again.")
            await self._audit(ctx, f"{kind} (expired)", "refused", str(err))
            return Reply.error(err)
        if not pending.asked_by(ctx):
            err = Unauthorized("Only the person who asked can confirm or cancel this.")
            await self._audit(ctx, f"{kind} {pending.command.text}", "refused", str(err))
            return Reply.error(err)
        self.confirmations.discard(arg)
        if kind == "cancel":
            await self._audit(ctx, f"cancel {pending.command.text}", "ok")
            return Reply(title="Cancelled", text=f"`{pending.command.text}` was not run.", tone=Tone.INFO)
        return await self._run(pending.command, ctx, confirmed=True)

    async def complete(self, prefix: str, ctx: CommandContext, verb: str | None = None) -> list[str]:
        spec = BY_NAME.get(verb or "") or BY_NAME["status"]
        progs = {st.name: st.group for st in self.sup.states()}
        names = self.perms.visible(ctx.actor, ctx.channel, spec.name, progs)
        if spec.managed_only:
            names = [n for n in names if n in self.sup.runners]
        allowed = set(names)
        # a group is offered only when picking it would be allowed: every one of its programs is
        groups = [] if spec.one_program else sorted(
            f"group:{g}" for g in {progs[n] for n in names if progs[n]}
            if all(p in allowed for p, pg in progs.items() if pg == g))
        # a program with instances is offered by its own name too (all of them), where a target may be many
        members: dict[str, list[str]] = {}
        for n in progs:
            if is_instance(n):
                members.setdefault(family(n), []).append(n)
        families = [] if spec.one_program else sorted(
            f for f, inst in members.items() if all(i in allowed for i in inst))
        options = sorted(names) + families + groups
        p = prefix.lower()
        starts = [o for o in options if o.lower().startswith(p)]
        contains = [o for o in options if p in o.lower() and o not in starts]
        return (starts + contains)[:25]

    def groups_of_interest(self, platform: str) -> set[str]:
        return self.perms.groups_of_interest(platform)

    async def refused(self, ctx: CommandContext, command: str, reason: str) -> None:
        """Audit a request an adapter answered itself (stale button, shutting down, lookup failed)."""
        await self._audit(ctx, _printable(command), "refused", reason)

    async def audit_refusal(self, ctx: CommandContext, text: str, outcome: str, detail: str,
                            host: str | None = None) -> None:
        """Audit a request refused before it became a command (too many clients, too long, timed out), or a
        fleet command the front refused for other hosts (``host`` names them)."""
        await self._audit(ctx, _printable(text), outcome, detail, host=host)

    # -- the pipeline ----------------------------------------------------
    async def _run(self, cmd: Command, ctx: CommandContext, *, confirmed: bool) -> Reply:
        actor = ctx.actor
        spec = BY_NAME[cmd.verb]
        try:
            programs = self._programs_for(spec, cmd)
            self.perms.check(actor, ctx.channel, cmd.verb, programs)
            if spec.program_scoped and cmd.target is None:
                programs = {}  # checked against every program; the handler shows what the caller may see
            if spec.confirm_when_many and len(programs) > 1 and not confirmed and not actor.local:
                prompt = self.confirmations.ask(cmd, ctx, list(programs))
                await self._audit(ctx, cmd.text, "confirm", f"{len(programs)} programs")
                return prompt
            reply = await self._handlers[cmd.verb](self.env, cmd, ctx, list(programs))
        except ProcbotError as e:
            outcome = "refused" if isinstance(e, Unauthorized) else "error"
            await self._audit(ctx, cmd.text, outcome, str(e))
            if not isinstance(e, (Unauthorized, NotFound, InvalidInput)):
                log.warning("command %r by %s failed: %s", cmd.text, actor.label, e)
            return Reply.error(e)
        if not (reply.ok and actor.local and spec.read_only):
            await self._audit(ctx, cmd.text, "ok" if reply.ok else "error", "" if reply.ok else reply.text[:500])
        if cmd.public and reply.ok and "confirm" not in reply.data:
            reply.ephemeral = False  # a confirmation prompt stays private to the asker
        return reply

    def _programs_for(self, spec: Verb, cmd: Command) -> dict[str, str | None]:
        if cmd.target is None:
            if spec.program_scoped:
                return {st.name: st.group for st in self.sup.states()}
            return {}
        if spec.may_match_nothing and cmd.target.kind in ("glob", "all"):
            # a silence pattern may match no program yet: then only unscoped grants can allow it
            try:
                names = self.sup.resolve(cmd.target)
            except NotFound:
                return {}
        else:
            names = self.sup.resolve(cmd.target)
        if spec.one_program and len(names) > 1:  # `logs web` of a program with instances
            raise InvalidInput(f"`{cmd.target}` has {len(names)} instances ({names[0]} ... {names[-1]}): "
                               f"name one, e.g. `{spec.name} {names[0]}`.")
        return {n: self.sup.state(n).group for n in names}

    async def _audit(self, ctx: CommandContext, command: str, outcome: str, detail: str = "",
                     host: str | None = None) -> None:
        """Write the row (``host``: where the command was for, this host unless named); a registry that
        cannot take it is logged, never turned into a lost answer."""
        a = ctx.actor
        try:
            await self.registry.audit(
                self.clock.time(), a.platform, a.user_id, a.display_name, ctx.channel, command[:500], outcome, detail,
                host=self.env.host if host is None else host,
            )
        except ProcbotError as e:
            log.error("could not audit %r by %s (%s): %s", command[:100], a.label, outcome, e)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:200])
