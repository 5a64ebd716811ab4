"""start, stop, restart (one program or many, side by side) and reload."""

from __future__ import annotations

from core.actor import CommandContext
from core.commands.grammar import Command
from core.commands.verbs import Services
from core.errors import ProcbotError
from core.reply import Reply, Tone

_PAST = {"start": "Started", "stop": "Stopped", "restart": "Restarted"}


async def act(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    by = f"{ctx.actor.platform}:{ctx.actor.display_name or ctx.actor.user_id}"

    # in start order (depends_on, priority): dependents stop first, and start after what they depend on
    done = await env.supervisor.act(cmd.verb, programs, by)

    def outcome(name: str) -> tuple[str, bool, str]:
        err = done[name]
        if isinstance(err, ProcbotError):
            return name, False, str(err)
        if err is not None:
            raise err
        if cmd.verb == "stop":
            return name, True, "stopped"
        pid = env.supervisor.state(name).pid
        return name, True, f"{'started' if cmd.verb == 'start' else 'restarted'} (pid {pid})"

    results = [outcome(n) for n in programs]
    ok = [r for r in results if r[1]]
    failed = [r for r in results if not r[1]]
    lines = [f"{'✓' if good else '✗'} {name}: {msg}" for name, good, msg in results]
    tone = Tone.OK if not failed else (Tone.ERROR if not ok else Tone.WARN)
    if len(results) == 1 and ok:
        title = f"{_PAST[cmd.verb]} {ok[0][0]}"
    else:
        title = f"{cmd.verb.capitalize()}: {len(ok)} of {len(results)} done"
    if len(results) == 1 and failed:
        return Reply(title=f"Could not {cmd.verb} {failed[0][0]}", text=failed[0][2], tone=Tone.ERROR,
                     ok=False, error_code="action_failed", data={"results": _results(results)})
    return Reply(title=title, text="\n".join(lines), tone=tone, ok=not failed,
                 data={"results": _results(results)}, ephemeral=True)


async def reload(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    if env.reload is None:
        raise ProcbotError("Reload is not available here.")
    summary = await env.reload()
    return Reply(title="Configuration reloaded", text=summary, tone=Tone.OK)


def _results(results: list[tuple[str, bool, str]]) -> list[dict[str, object]]:
    return [{"program": n, "ok": ok, "message": m} for n, ok, m in results]
