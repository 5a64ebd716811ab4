"""Turns command text into actions and a platform-neutral reply.

Every adapter and the CLI come through here: parse, resolve the target,
check permissions, ask for confirmation when several programs would
change, act, and write one audit row whatever the outcome, with one
exception: a *local* caller's (CLI, console) successful read-only command
is not audited. The trail is there to answer "who changed or tried what";
the host operator reading state through an owner-only socket changes
nothing, and a script polling `status` every few seconds would otherwise
push every chat command out of view (30 of 64 rows in one run). Chat
reads, every state change and every refusal or error are always audited.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from core import formatting as fmt
from core.actor import CommandContext
from core.alerts.silences import Silences
from core.clock import Clock
from core.commands.grammar import HELP_NOTE, MAX_AUDIT_ROWS, READ_ONLY_VERBS, VERBS, Command, help_lines, parse
from core.commands.permissions import Permissions
from core.errors import ConfirmationExpired, InvalidInput, NotFound, ProcbotError, Unauthorized
from core.logd.client import describe_stats
from core.process.logs import log_path, tail
from core.process.scanner import Scanner
from core.process.states import FAILED_STATES, ProgramState, State
from core.process.supervisor import Supervisor
from core.redact import mask_lines
from core.reply import STATE_TONE, Button, Field, Reply, Table, Tone
from core.store.registry import Registry

log = logging.getLogger(__name__)

DEFAULT_LOG_LINES = 20
DEFAULT_AUDIT_ROWS = 20
#: verbs that act on managed programs only (autocomplete leaves watched ones out)
_MANAGED_ONLY = frozenset({"start", "stop", "restart", "logs"})
#: verbs whose usage takes one ``<program>``: no ``group:`` in their autocomplete
_ONE_PROGRAM = frozenset(v for v, (_, _, usage) in VERBS.items() if usage.split()[1:2] == ["<program>"])


class DigestPoster(Protocol):
    async def post_now(self, by: str) -> Reply: ...


class StatusNotes(Protocol):
    def status_notes(self) -> list[str]: ...


@dataclass
class _Pending:
    command: Command
    user: str
    platform: str
    channel: str | None
    expires: float


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
        self.scanner = scanner
        self.registry = registry
        self.perms = permissions
        self.silences = silences
        self.clock = clock
        self.host = host
        self.confirm_timeout = confirm_timeout
        self.reload_cb = reload
        self.digests: DigestPoster | None = None
        self.notes: StatusNotes | None = None
        self._pending: dict[str, _Pending] = {}

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
            err = InvalidInput("Unknown button.")
            await self._audit(ctx, f"button {_printable(value)}", "invalid", str(err))
            return Reply.error(err)
        self._expire()
        pending = self._pending.get(arg)
        if pending is None:
            err = ConfirmationExpired("This confirmation has expired or was already used. Run the command again.")
            await self._audit(ctx, f"{kind} (expired)", "refused", str(err))
            return Reply.error(err)
        if pending.user != ctx.actor.user_id or pending.platform != ctx.actor.platform:
            err = Unauthorized("Only the person who asked can confirm or cancel this.")
            await self._audit(ctx, f"{kind} {pending.command.text}", "refused", str(err))
            return Reply.error(err)
        del self._pending[arg]
        if kind == "cancel":
            await self._audit(ctx, f"cancel {pending.command.text}", "ok")
            return Reply(title="Cancelled", text=f"`{pending.command.text}` was not run.", tone=Tone.INFO)
        return await self._run(pending.command, ctx, confirmed=True)

    async def complete(self, prefix: str, ctx: CommandContext, verb: str | None = None) -> list[str]:
        verb = verb if verb in VERBS else "status"
        progs = {st.name: st.group for st in self.sup.states()}
        names = self.perms.visible(ctx.actor, ctx.channel, verb, progs)
        if verb in _MANAGED_ONLY:  # a watched program cannot be started, and has no log
            names = [n for n in names if n in self.sup.runners]
        allowed = set(names)
        # a group is offered only when picking it would be allowed: every one of its programs is
        groups = [] if verb in _ONE_PROGRAM else sorted(
            f"group:{g}" for g in {progs[n] for n in names if progs[n]}
            if all(p in allowed for p, pg in progs.items() if pg == g))
        options = sorted(names) + groups
        p = prefix.lower()
        starts = [o for o in options if o.lower().startswith(p)]
        contains = [o for o in options if p in o.lower() and o not in starts]
        return (starts + contains)[:25]

    def groups_of_interest(self, platform: str) -> set[str]:
        return self.perms.groups_of_interest(platform)

    async def refused(self, ctx: CommandContext, command: str, reason: str) -> None:
        """Audit a request an adapter answered itself (stale button, shutting down, lookup failed)."""
        await self._audit(ctx, _printable(command), "refused", reason)

    # -- the pipeline ----------------------------------------------------
    async def _run(self, cmd: Command, ctx: CommandContext, *, confirmed: bool) -> Reply:
        actor = ctx.actor
        try:
            programs = self._programs_for(cmd)
            self.perms.check(actor, ctx.channel, cmd.verb, programs)
            if cmd.verb == "status" and cmd.target is None:
                programs = {}
            if (
                cmd.verb in ("start", "stop", "restart")
                and len(programs) > 1
                and not confirmed
                and not actor.local
            ):
                return await self._ask_confirmation(cmd, ctx, list(programs))
            reply = await self._execute(cmd, ctx, list(programs))
        except ProcbotError as e:
            outcome = "refused" if isinstance(e, Unauthorized) else "error"
            await self._audit(ctx, cmd.text, outcome, str(e))
            if not isinstance(e, (Unauthorized, NotFound, InvalidInput)):
                log.warning("command %r by %s failed: %s", cmd.text, actor.label, e)
            return Reply.error(e)
        if not (reply.ok and actor.local and cmd.verb in READ_ONLY_VERBS):
            await self._audit(ctx, cmd.text, "ok" if reply.ok else "error", "" if reply.ok else reply.text[:500])
        if cmd.public and reply.ok and "confirm" not in reply.data:
            reply.ephemeral = False  # a confirmation prompt stays private to the asker
        return reply

    def _programs_for(self, cmd: Command) -> dict[str, str | None]:
        if cmd.target is None:
            if cmd.verb == "status":
                return {st.name: st.group for st in self.sup.states()}
            return {}
        if cmd.verb in ("silence", "unsilence") and cmd.target.kind in ("glob", "all"):
            # a silence pattern may match no program yet: then only unscoped grants can allow it
            try:
                names = self.sup.resolve(cmd.target)
            except NotFound:
                return {}
        else:
            names = self.sup.resolve(cmd.target)
        return {n: self.sup.state(n).group for n in names}

    async def _ask_confirmation(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        self._expire()
        token = secrets.token_urlsafe(9)
        self._pending[token] = _Pending(
            cmd, ctx.actor.user_id, ctx.actor.platform, ctx.channel, self.clock.monotonic() + self.confirm_timeout
        )
        await self._audit(ctx, cmd.text, "confirm", f"{len(programs)} programs")
        shown = ", ".join(programs[:15]) + (f" and {len(programs) - 15} more" if len(programs) > 15 else "")
        return Reply(
            title=f"{cmd.verb.capitalize()} {len(programs)} programs?",
            text=f"This will {cmd.verb} {shown}. Only you can confirm; "
            f"this expires in {fmt.duration(self.confirm_timeout)}.",
            tone=Tone.WARN,
            buttons=[
                Button("Confirm", f"confirm:{token}", "danger"),
                Button("Cancel", f"cancel:{token}", "default"),
            ],
            data={"confirm": token, "programs": programs},
        )

    def _expire(self) -> None:
        now = self.clock.monotonic()
        for k in [k for k, p in self._pending.items() if p.expires <= now]:
            del self._pending[k]

    async def audit_refusal(self, ctx: CommandContext, text: str, outcome: str, detail: str) -> None:
        """Audit a request refused before it became a command (too many clients, too long, timed out)."""
        await self._audit(ctx, _printable(text), outcome, detail)

    async def _audit(self, ctx: CommandContext, command: str, outcome: str, detail: str = "") -> None:
        """Write the row; a registry that cannot take it is logged, never turned into a lost answer."""
        a = ctx.actor
        try:
            await self.registry.audit(
                self.clock.time(), a.platform, a.user_id, a.display_name, ctx.channel, command[:500], outcome, detail
            )
        except ProcbotError as e:
            log.error("could not audit %r by %s (%s): %s", command[:100], a.label, outcome, e)

    # -- verbs -----------------------------------------------------------
    async def _execute(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        handler = getattr(self, f"_do_{cmd.verb}")
        return await handler(cmd, ctx, programs)

    async def _do_status(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        await self.scanner.settled()
        if not programs:
            all_progs = {st.name: st.group for st in self.sup.states()}
            programs = self.perms.visible(ctx.actor, ctx.channel, "status", all_progs)
        now = self.clock.time()
        rows, states, snaps = [], [], []
        counts: dict[str, int] = {}
        for name in programs:
            st = self.sup.state(name)
            counts[st.state.value] = counts.get(st.state.value, 0) + 1
            rows.append([
                name,
                st.state.value,
                str(st.pid) if st.state.is_up and st.pid else "-",
                fmt.duration(st.uptime(now)),
                f"{st.cpu_percent:.1f}%" if st.state.is_up else "-",
                fmt.size(st.rss_bytes) if st.state.is_up else "-",
                _detail(st, now),
            ])
            states.append(st.state.value)
            snaps.append(st.snapshot(now))
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no programs"
        notes = self.notes.status_notes() if self.notes else []
        notes.extend(self.registry.status_notes())  # "history is not being recorded since ..."
        notes += self.sup.logs.status_notes()
        silenced = self.silences.active()
        if silenced:
            notes.append(f"{len(silenced)} active silence(s): " + ", ".join(s.target for s in silenced[:5]))
        bad = any(s in FAILED_STATES for s in counts)
        return Reply(
            title=f"Status on {self.host}",
            text=summary + ("\n" + "\n".join(notes) if notes else ""),
            tone=Tone.WARN if bad else Tone.OK,
            table=Table(["PROGRAM", "STATE", "PID", "UPTIME", "CPU", "MEM", "DETAIL"], rows, states),
            # the CLI's exit status (supervisorctl's 3) reads this: "up" has one definition, State.is_up
            data={"programs": snaps, "notes": notes, "registry": asdict(self.registry.health),
                  "not_running": [sn["name"] for sn, st in zip(snaps, states, strict=True)
                                  if not State(st).is_up]},
            ephemeral=True,
        )

    async def _act(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        by = f"{ctx.actor.platform}:{ctx.actor.display_name or ctx.actor.user_id}"

        async def one(name: str) -> tuple[str, bool, str]:
            try:
                runner = self.sup.runner(name)
                await getattr(runner, cmd.verb)(by)
            except ProcbotError as e:
                return name, False, str(e)
            st = runner.st
            if cmd.verb == "stop":
                return name, True, "stopped"
            return name, True, f"{'started' if cmd.verb == 'start' else 'restarted'} (pid {st.pid})"

        results = await asyncio.gather(*(one(n) for n in programs))
        ok = [r for r in results if r[1]]
        failed = [r for r in results if not r[1]]
        lines = [f"{'✓' if good else '✗'} {name}: {msg}" for name, good, msg in results]
        tone = Tone.OK if not failed else (Tone.ERROR if not ok else Tone.WARN)
        past = {"start": "Started", "stop": "Stopped", "restart": "Restarted"}[cmd.verb]
        if len(results) == 1 and ok:
            title = f"{past} {ok[0][0]}"
        else:
            title = f"{cmd.verb.capitalize()}: {len(ok)} of {len(results)} done"
        if len(results) == 1 and failed:
            return Reply(title=f"Could not {cmd.verb} {failed[0][0]}", text=failed[0][2], tone=Tone.ERROR,
                         ok=False, error_code="action_failed", data={"results": _results(results)})
        return Reply(title=title, text="\n".join(lines), tone=tone, ok=not failed,
                     data={"results": _results(results)}, ephemeral=True)

    _do_start = _act
    _do_stop = _act
    _do_restart = _act

    async def _do_logs(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        name = programs[0]
        n = int(cmd.extra.get("lines", DEFAULT_LOG_LINES))
        if name in self.sup.watched:
            raise ProcbotError(f"`{name}` is watched, not managed: procbot has no log file for it.")
        path = log_path(self.sup.config.log_dir, name)
        lines = await asyncio.to_thread(tail, path, n)
        if not (ctx.raw and ctx.actor.local):
            lines = mask_lines(lines)
        body = "\n".join(lines) if lines else "(no output yet)"
        return Reply(title=f"Last {len(lines)} log lines of {name}", code=body,
                     data={"lines": lines, "path": str(path)})

    async def _do_info(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        name = programs[0]
        st = self.sup.state(name)
        now = self.clock.time()
        fields = [Field("State", st.state.value), Field("PID", str(st.pid) if st.state.is_up else "-"),
                  Field("Uptime", fmt.duration(st.uptime(now))), Field("Group", st.group or "-")]
        if name in self.sup.runners:
            spec = self.sup.runners[name].spec
            fields += [
                Field("Command", shlex.join(spec.command), inline=False),
                Field("Restart policy",
                      f"{spec.restart} (expected exit {', '.join(map(str, spec.expected_exit_codes))})"),
                Field("Autostart", "yes" if spec.autostart else "no"),
                Field("Restarts", str(st.restarts)),
                Field("Stop", f"{spec.stop_signal}, then SIGKILL after {fmt.duration(spec.stop_timeout)}"),
                Field("Log file", str(log_path(self.sup.config.log_dir, name)), inline=False),
                Field("Log", describe_stats(await self.sup.logs.stats(name)), inline=False),
            ]
        else:
            w = self.sup.watched[name]
            fields.append(Field("Watched by", f"pidfile {w.pidfile}" if w.pidfile else f"pattern {w.spec.pattern!r}",
                                inline=False))
        fields += [
            Field("CPU", f"{st.cpu_percent:.1f}%"), Field("Memory (tree)", fmt.size(st.rss_bytes)),
            Field("Processes", str(len(st.tree_pids)) if st.tree_pids else "-"),
            Field("Last exit", f"{fmt.exit_text(st.exit_code, st.signal)} at {fmt.when(st.last_exit_at)}"
                  if st.last_exit_at else "-"),
        ]
        if st.message:
            fields.append(Field("Note", st.message, inline=False))
        return Reply(title=f"{name} on {self.host}", tone=STATE_TONE[st.state], fields=fields,
                     data=self.sup.state(name).snapshot(now))

    async def _do_history(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        name = programs[0]
        runs = await self.registry.runs(name, int(cmd.extra.get("n", 10)))
        rows = [[fmt.when(r.started_at), fmt.when(r.ended_at) if r.ended_at else "running",
                 fmt.duration((r.ended_at or self.clock.time()) - r.started_at),
                 fmt.exit_text(r.exit_code, r.signal) if r.ended_at else "-", r.reason or "-", r.started_by]
                for r in runs]
        return Reply(title=f"Recent runs of {name}",
                     table=Table(["STARTED", "ENDED", "RAN", "EXIT", "WHY", "BY"], rows),
                     text="" if rows else "No runs recorded yet.",
                     data={"runs": [r.__dict__ for r in runs]})

    async def _do_silence(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        assert cmd.target is not None
        seconds = int(cmd.extra["seconds"])
        s = await self.silences.add(str(cmd.target), seconds, ctx.actor.label, str(cmd.extra.get("reason", "")))
        return Reply(title=f"Silenced {s.target}", tone=Tone.OK,
                     text=f"Alerts for {s.target} are recorded but not posted until {fmt.when(s.until)}"
                          f" ({fmt.duration(seconds)}).",
                     data={"until": s.until, "target": s.target})

    async def _do_unsilence(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        n = await self.silences.remove(str(cmd.target))
        if not n:
            raise NotFound(f"No active silence for `{cmd.target}`.")
        return Reply(title=f"Unsilenced {cmd.target}", tone=Tone.OK, text="Alerts will be posted again.")

    async def _do_silences(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        items = self.silences.active()
        rows = [[s.target, fmt.when(s.until), s.created_by, s.reason or "-"] for s in items]
        return Reply(title="Active silences", table=Table(["TARGET", "UNTIL", "BY", "REASON"], rows),
                     text="" if rows else "No active silences.")

    async def _do_digest(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        if self.digests is None:
            raise ProcbotError("Digests are not set up on this procbot.")
        return await self.digests.post_now(ctx.actor.label)

    async def _do_audit(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        x = cmd.extra
        n = min(int(x.get("n", DEFAULT_AUDIT_ROWS)), MAX_AUDIT_ROWS)
        page = int(x.get("page", 1))
        filters = {k: str(x[k]) for k in ("platform", "user", "program", "outcome") if k in x}
        since = self.clock.time() - int(x["since"]) if "since" in x else None
        rows, total = await self.registry.audit_page(n, (page - 1) * n, since=since, **filters)
        table = [[fmt.when(r.at), f"{r.platform}:{r.user_name or r.user_id}", r.channel or "-", r.command, r.outcome]
                 for r in rows]
        pages = max(1, -(-total // n))
        text = f"Page {page} of {pages} ({total} matching rows)."
        if page < pages:
            nxt = " ".join(w for w in cmd.args if not w.lower().startswith("page="))
            text += f" Next: `audit {nxt + ' ' if nxt else ''}page={page + 1}`"
        return Reply(title="Audit trail", table=Table(["WHEN", "WHO", "CHANNEL", "COMMAND", "OUTCOME"], table),
                     text=text if rows else "No audit rows match.",
                     data={"rows": [r.__dict__ for r in rows], "page": page, "pages": pages, "total": total})

    async def _do_reload(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        if self.reload_cb is None:
            raise ProcbotError("Reload is not available here.")
        summary = await self.reload_cb()
        return Reply(title="Configuration reloaded", text=summary, tone=Tone.OK)

    async def _do_whoami(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        a = ctx.actor
        progs = [(st.name, st.group) for st in self.sup.states()]
        return Reply(title="Who you are to procbot", fields=[
            Field("Platform", a.platform), Field("User ID", a.user_id),
            Field("Groups/roles", ", ".join(sorted(a.groups)) or "-"),
            Field("Role", self.perms.describe(a, ctx.channel, progs), inline=False),
        ], data={"role": self.perms.role(a, ctx.channel)})

    async def _do_help(self, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
        topic = cmd.extra.get("topic")
        return Reply(title="procbot commands", code="\n".join(help_lines(str(topic) if topic else None)),
                     text=HELP_NOTE)


def _detail(st: ProgramState, now: float) -> str:
    if st.state is State.BACKOFF and st.next_start_at:
        return f"restart in {fmt.duration(max(0.0, st.next_start_at - now))} ({fmt.exit_text(st.exit_code, st.signal)})"
    if st.state in (State.EXITED, State.FATAL):
        return f"{fmt.exit_text(st.exit_code, st.signal)}; {st.message}".strip("; ")
    if st.state in (State.SPAWN_ERROR, State.MISSING, State.STOPPED):
        return st.message
    if st.restarts:
        return f"{st.restarts} restarts"
    return ""


def _results(results: list[tuple[str, bool, str]]) -> list[dict[str, object]]:
    return [{"program": n, "ok": ok, "message": m} for n, ok, m in results]


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:200])

