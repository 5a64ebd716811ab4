"""whoami, help and digest: about procbot itself rather than one program."""

from __future__ import annotations

from core.actor import CommandContext
from core.commands.catalog import HELP_NOTE, help_lines
from core.commands.grammar import Command
from core.commands.verbs import Services
from core.errors import ProcbotError
from core.reply import Field, Reply


async def whoami(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    a = ctx.actor
    progs = [(st.name, st.group) for st in env.supervisor.states()]
    return Reply(title="Who you are to procbot", fields=[
        Field("Platform", a.platform), Field("User ID", a.user_id),
        Field("Groups/roles", ", ".join(sorted(a.groups)) or "-"),
        Field("Role", env.permissions.describe(a, ctx.channel, progs), inline=False),
    ], data={"role": env.permissions.role(a, ctx.channel)})


async def help(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    topic = cmd.extra.get("command")
    return Reply(title="procbot commands", code="\n".join(help_lines(str(topic) if topic else None)),
                 text=HELP_NOTE)


async def digest(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    if env.digests is None:
        raise ProcbotError("Digests are not set up on this procbot.")
    return await env.digests.post_now(ctx.actor.label)
