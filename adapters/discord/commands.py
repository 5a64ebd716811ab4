"""The ``/proc`` app-command group: one subcommand per grammar verb, typed options.

Discord validates option types and ranges before the bot sees them, and
users get a form instead of free text. Each subcommand only turns its
options back into grammar text (``/proc logs program:web lines:50`` ->
``logs web 50``); parsing, permissions and auditing stay in core. The
callbacks never decide anything themselves: they hand over to a
:class:`CommandRunner` (the adapter).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import discord
from discord import app_commands

from core.commands.grammar import MAX_LOG_LINES, VERBS

TARGET_HELP = "a program, group:NAME, a glob like web-* or all"
PROGRAM_HELP = "a program name"

Completer = Callable[[discord.Interaction, str], Awaitable[list[app_commands.Choice[str]]]]


class CommandRunner(Protocol):
    async def run_command(
        self, interaction: discord.Interaction, verb: str, args: list[str | int | None], *, public: bool = False
    ) -> None:
        """Build grammar text from the options and answer the interaction."""

    async def autocomplete(
        self, interaction: discord.Interaction, current: str, verb: str
    ) -> list[app_commands.Choice[str]]:
        """Program/group names this user may use with ``verb``."""


def build_group(runner: CommandRunner) -> app_commands.Group:
    """The ``/proc`` group wired to ``runner``. Built per client (a group belongs to one tree)."""
    group = app_commands.Group(name="proc", description="Control the programs procbot supervises")

    def complete(verb: str) -> Completer:
        async def _complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return await runner.autocomplete(interaction, current, verb)

        return _complete

    @group.command(name="status", description="Show program states")
    @app_commands.describe(target=TARGET_HELP, public="show the result to the whole channel")
    @app_commands.autocomplete(target=complete("status"))
    async def status(interaction: discord.Interaction, target: str | None = None, public: bool = False) -> None:
        await runner.run_command(interaction, "status", [target], public=public)

    @group.command(name="start", description="Start programs")
    @app_commands.describe(target=TARGET_HELP)
    @app_commands.autocomplete(target=complete("start"))
    async def start(interaction: discord.Interaction, target: str) -> None:
        await runner.run_command(interaction, "start", [target])

    @group.command(name="stop", description="Stop programs")
    @app_commands.describe(target=TARGET_HELP)
    @app_commands.autocomplete(target=complete("stop"))
    async def stop(interaction: discord.Interaction, target: str) -> None:
        await runner.run_command(interaction, "stop", [target])

    @group.command(name="restart", description="Restart programs")
    @app_commands.describe(target=TARGET_HELP)
    @app_commands.autocomplete(target=complete("restart"))
    async def restart(interaction: discord.Interaction, target: str) -> None:
        await runner.run_command(interaction, "restart", [target])

    @group.command(name="logs", description="Show the last lines of a program's log")
    @app_commands.describe(program=PROGRAM_HELP, lines="how many lines (default from config)")
    @app_commands.autocomplete(program=complete("logs"))
    async def logs(
        interaction: discord.Interaction,
        program: str,
        lines: app_commands.Range[int, 1, MAX_LOG_LINES] | None = None,
    ) -> None:
        await runner.run_command(interaction, "logs", [program, lines])

    @group.command(name="info", description="Details of one program")
    @app_commands.describe(program=PROGRAM_HELP)
    @app_commands.autocomplete(program=complete("info"))
    async def info(interaction: discord.Interaction, program: str) -> None:
        await runner.run_command(interaction, "info", [program])

    @group.command(name="history", description="Recent runs of one program")
    @app_commands.describe(program=PROGRAM_HELP, n="how many runs")
    @app_commands.autocomplete(program=complete("history"))
    async def history(
        interaction: discord.Interaction, program: str, n: app_commands.Range[int, 1, 1000] | None = None
    ) -> None:
        await runner.run_command(interaction, "history", [program, n])

    @group.command(name="silence", description="Mute alerts for a while")
    @app_commands.describe(target=TARGET_HELP, duration="e.g. 30m, 2h, 1d", reason="why (shown to others)")
    @app_commands.autocomplete(target=complete("silence"))
    async def silence(
        interaction: discord.Interaction,
        target: str,
        duration: app_commands.Range[str, 2, 12],
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        await runner.run_command(interaction, "silence", [target, duration, reason])

    @group.command(name="unsilence", description="Lift a silence")
    @app_commands.describe(target=TARGET_HELP)
    @app_commands.autocomplete(target=complete("unsilence"))
    async def unsilence(interaction: discord.Interaction, target: str) -> None:
        await runner.run_command(interaction, "unsilence", [target])

    @group.command(name="silences", description="List active silences")
    async def silences(interaction: discord.Interaction) -> None:
        await runner.run_command(interaction, "silences", [])

    @group.command(name="digest", description="Post a digest now")
    async def digest(interaction: discord.Interaction) -> None:
        await runner.run_command(interaction, "digest", [])

    @group.command(name="audit", description="Recent commands (admin)")
    @app_commands.describe(n="how many entries")
    async def audit(interaction: discord.Interaction, n: app_commands.Range[int, 1, 200] | None = None) -> None:
        await runner.run_command(interaction, "audit", [n])

    @group.command(name="reload", description="Reload the configuration (admin)")
    async def reload(interaction: discord.Interaction) -> None:
        await runner.run_command(interaction, "reload", [])

    @group.command(name="whoami", description="Your identity and roles as procbot sees them")
    async def whoami(interaction: discord.Interaction) -> None:
        await runner.run_command(interaction, "whoami", [])

    @group.command(name="help", description="How to use procbot")
    @app_commands.describe(command="a command to explain")
    @app_commands.choices(command=[app_commands.Choice(name=v, value=v) for v in VERBS])
    async def help_(interaction: discord.Interaction, command: str | None = None) -> None:
        await runner.run_command(interaction, "help", [command])

    return group
