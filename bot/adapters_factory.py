"""Builds the chat adapters whose credentials are present.

An adapter with no credentials is skipped with a log line; one that fails
to connect retries on its own, so the others and the supervisor go on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.secrets import discord_token, slack_secrets
from core.clock import Clock
from core.ports import CommandHandler
from core.spec import Config

log = logging.getLogger(__name__)


def build_adapters(config: Config, handler: CommandHandler, environ: Mapping[str, str], clock: Clock) -> list[Any]:
    adapters: list[Any] = []
    if config.slack is not None and config.slack.enabled:
        secrets = slack_secrets(config.slack, config, environ)
        if secrets is None:
            log.warning("slack: credentials missing (%s), adapter not started", slack_needs(config))
        else:
            from adapters.slack.adapter import SlackAdapter

            adapters.append(SlackAdapter(config.slack, handler, secrets, clock=clock))
    if config.discord is not None and config.discord.enabled:
        token = discord_token(config.discord, config, environ)
        if token is None:
            log.warning("discord: %s not set, adapter not started", config.discord.token_env)
        else:
            from adapters.discord.adapter import DiscordAdapter

            adapters.append(DiscordAdapter(config.discord, handler, token, clock=clock))
    return adapters


def slack_needs(config: Config) -> str:
    s = config.slack
    assert s is not None
    second = s.app_token_env if s.mode == "socket" else s.signing_secret_env
    return f"{s.bot_token_env} and {second}"
