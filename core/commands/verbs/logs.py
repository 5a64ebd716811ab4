"""logs: the last lines of a managed program's log file, masked unless a local admin asks for them raw."""

from __future__ import annotations

import asyncio

from core import formatting as fmt
from core.actor import CommandContext
from core.commands.grammar import Command
from core.commands.verbs import Services
from core.errors import ProcbotError
from core.process.logs import log_path, tail_with_end
from core.redact import mask_lines
from core.reply import Reply, Tone

DEFAULT_LOG_LINES = 20


async def logs(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    sup = env.supervisor
    name = programs[0]
    n = int(cmd.extra.get("lines", DEFAULT_LOG_LINES))
    if name in sup.watched:
        raise ProcbotError(f"`{name}` is watched, not managed: procbot has no log file for it.")
    path = log_path(sup.config.log_dir, name)
    got = await asyncio.to_thread(tail_with_end, path, n)
    lines = got.lines
    if not (ctx.raw and ctx.actor.local):
        lines = mask_lines(lines)
    body = "\n".join(lines) if lines else "(no output yet)"
    return Reply(title=f"Last {len(lines)} log lines of {name}", code=body,
                 data={"lines": lines, "path": str(path), "end": got.end, "inode": got.inode})


async def clear(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    """Empty the log through whoever writes it (the log daemon; the children themselves in its absence)."""
    sup = env.supervisor
    name = programs[0]
    if name in sup.watched:
        raise ProcbotError(f"`{name}` is watched, not managed: procbot has no log file for it.")
    emptied = await sup.logs.clear(name)
    held = sum(emptied.values())
    text = (f"{fmt.size(held)} removed ({', '.join(sorted(emptied))}); rotated backups are kept."
            if emptied else "There was no log file yet.")
    return Reply(title=f"Cleared the log of {name}", tone=Tone.OK, text=text,
                 data={"emptied": emptied, "bytes": held})
