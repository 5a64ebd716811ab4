"""The ``/proc`` app-command group: one subcommand per catalog verb, typed options.

Discord validates option types and ranges before the bot sees them, and
users get a form instead of free text. The subcommands are built from
:mod:`core.commands.catalog` (an argument's kind decides its option type,
range and autocomplete), so a verb missing here cannot pass a test. Each
subcommand only turns its options back into grammar text
(``/proc logs program:web lines:50`` -> ``logs web 50``); parsing,
permissions and auditing stay in core. The callbacks never decide anything
themselves: they hand over to a :class:`CommandRunner` (the adapter).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import discord
from discord import app_commands

from core.commands.catalog import (
    COUNT,
    DURATION,
    FILTERS,
    PROGRAM,
    SIGNAL,
    SIGNALS,
    TARGET,
    TEXT,
    TOPIC,
    VERBS,
    Arg,
    Verb,
)

Completer = Callable[[discord.Interaction, str], Awaitable[list[app_commands.Choice[str]]]]
PUBLIC_HELP = "show the result to the whole channel"
#: a duration word is short (`30m`, `90d`); the grammar checks the rest
DURATION_CHARS = (2, 12)


class CommandRunner(Protocol):
    async def run_command(
        self, interaction: discord.Interaction, verb: str, args: list[str | int | None], *, public: bool = False
    ) -> None:
        """Build grammar text from the options and answer the interaction."""

    async def autocomplete(
        self, interaction: discord.Interaction, current: str, verb: str
    ) -> list[app_commands.Choice[str]]:
        """Program/group names this user may use with ``verb``."""


def options(verb: Verb) -> list[Arg]:
    """The arguments Discord offers as options, in catalog order (key=value filters have no form field)."""
    return [a for a in verb.args if a.kind != FILTERS]


def _annotation(arg: Arg) -> Any:
    if arg.kind == COUNT:
        return app_commands.Range[int, 1, arg.limit]
    if arg.kind == DURATION:
        return app_commands.Range[str, DURATION_CHARS[0], DURATION_CHARS[1]]
    if arg.kind == TEXT:
        return app_commands.Range[str, 1, arg.limit]
    return str


def build_group(runner: CommandRunner) -> app_commands.Group:
    """The ``/proc`` group wired to ``runner``. Built per client (a group belongs to one tree)."""
    group = app_commands.Group(name="proc", description="Control the programs procbot supervises")
    for verb in VERBS:
        group.add_command(_subcommand(verb, runner))
    return group


def _subcommand(verb: Verb, runner: CommandRunner) -> app_commands.Command[Any, ..., None]:
    args = options(verb)

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        public = bool(values.pop("public", False))
        await runner.run_command(interaction, verb.name, [values.get(a.name) for a in args], public=public)

    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=discord.Interaction)]
    for a in args:
        ann = _annotation(a)
        params.append(inspect.Parameter(a.name, inspect.Parameter.KEYWORD_ONLY,
                                        annotation=ann if a.required else ann | None,
                                        **({} if a.required else {"default": None})))
    if verb.public_flag:
        params.append(inspect.Parameter("public", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=False))
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__name__ = callback.__qualname__ = f"proc_{verb.name}"
    described = {a.name: a.help for a in args} | ({"public": PUBLIC_HELP} if verb.public_flag else {})
    func: Any = app_commands.describe(**described)(callback) if described else callback
    completed = {a.name: _completer(runner, verb.name) for a in args if a.kind in (TARGET, PROGRAM)}
    if completed:
        func = app_commands.autocomplete(**completed)(func)
    # fixed sets are a menu (Discord allows 25 choices): the verbs for `help`, the signals for `signal`
    fixed = {a.name: [v.name for v in VERBS] if a.kind == TOPIC else list(SIGNALS)
             for a in args if a.kind in (TOPIC, SIGNAL)}
    if fixed:
        func = app_commands.choices(**{n: [app_commands.Choice(name=w, value=w) for w in words]
                                       for n, words in fixed.items()})(func)
    return app_commands.Command(name=verb.name, description=verb.summary[:1].upper() + verb.summary[1:],
                                callback=func)


def _completer(runner: CommandRunner, verb: str) -> Completer:
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await runner.autocomplete(interaction, current, verb)

    return complete
