"""silence, unsilence and silences: holding alerts for a target for a while."""

from __future__ import annotations

from core import formatting as fmt
from core.actor import CommandContext
from core.commands.grammar import Command
from core.commands.verbs import Services
from core.errors import NotFound
from core.reply import Reply, Table, Tone


async def silence(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    assert cmd.target is not None
    seconds = int(cmd.extra["duration"])
    s = await env.silences.add(str(cmd.target), seconds, ctx.actor.label, str(cmd.extra.get("reason", "")))
    return Reply(title=f"Silenced {s.target}", tone=Tone.OK,
                 text=f"Alerts for {s.target} are recorded but not posted until {fmt.when(s.until)}"
                      f" ({fmt.duration(seconds)}).",
                 data={"until": s.until, "target": s.target})


async def unsilence(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    n = await env.silences.remove(str(cmd.target))
    if not n:
        raise NotFound(f"No active silence for `{cmd.target}`.")
    return Reply(title=f"Unsilenced {cmd.target}", tone=Tone.OK, text="Alerts will be posted again.")


async def silences(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    items = env.silences.active()
    rows = [[s.target, fmt.when(s.until), s.created_by, s.reason or "-"] for s in items]
    return Reply(title="Active silences", table=Table(["TARGET", "UNTIL", "BY", "REASON"], rows),
                 text="" if rows else "No active silences.")
