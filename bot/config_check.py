"""``procbot check-config``: everything that can be checked without starting anything."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bot.config_loader import load_config
from bot.secrets import discord_token, slack_secrets
from bot.state_dir import KEY as STATE_DIR_KEY
from bot.state_dir import state_dir_problem
from core.errors import ConfigError
from core.spec import Config


def check(path: Path) -> str:
    config = load_config(path)
    problems = semantic_problems(config)
    if problems:
        key, msg = problems[0]
        raise ConfigError(str(path), key, msg)
    notes = [f"{path}: OK", f"  {len(config.program)} managed, {len(config.watch)} watched programs",
             f"  state directory {config.state_dir}"]
    for w in warnings(config):
        notes.append(f"  warning: {w}")
    return "\n".join(notes)


def semantic_problems(config: Config) -> list[tuple[str, str]]:
    """Problems pydantic cannot see: they depend on the machine or on other sections."""
    out: list[tuple[str, str]] = []
    state_problem = state_dir_problem(config.state_dir)  # the rule `run` applies (bot/state_dir.py)
    if state_problem:
        out.append((STATE_DIR_KEY, state_problem))
    for p in config.program:
        exe = p.command[0]
        if "/" in exe:
            resolved = config.resolve(p.cwd).joinpath(exe) if p.cwd and not exe.startswith("/") else Path(exe)
            if not resolved.exists():
                out.append((f"program[{p.name}].command", f"executable {exe!r} does not exist"))
        elif shutil.which(exe) is None:
            out.append((f"program[{p.name}].command", f"executable {exe!r} not found on PATH"))
        if p.cwd and not config.resolve(p.cwd).is_dir():
            out.append((f"program[{p.name}].cwd", f"directory {config.resolve(p.cwd)} does not exist"))
    try:
        from bot.schedule_check import digest_problems
    except ImportError:
        return out
    out += digest_problems(config)
    return out


def warnings(config: Config) -> list[str]:
    out = []
    dests = {d for r in config.alerts.route for d in r.to} | {d for dg in config.digest for d in dg.to}
    if any(d.startswith("slack:") for d in dests) and (
        config.slack is None or slack_secrets(config.slack, config, os.environ) is None
    ):
        out.append("alerts or digests go to Slack but Slack credentials are not set")
    if any(d.startswith("discord:") for d in dests) and (
        config.discord is None or discord_token(config.discord, config, os.environ) is None
    ):
        out.append("alerts or digests go to Discord but the Discord token is not set")
    return out
