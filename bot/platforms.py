"""Every chat platform and alert destination, one row each.

A row says what procbot needs to know about a platform without knowing the
platform: the config table it reads (``[slack]``, ``[[webhook]]``), whether it
is configured, where its credentials come from, what to say when they are
missing, which config problems to refuse at load, which destinations
(``webhook:NAME``) it accepts, and how to build its adapter. App start-up,
alert delivery, ``check-config`` and the log redactor all read this table, so
**adding a platform is one folder in ``adapters/`` plus one row here**, and no
``if platform == ...`` anywhere else.

Factories import their adapter when called: a procbot without Slack never
loads slack_bolt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.secrets import discord_token, slack_secrets
from core.clock import Clock
from core.errors import ConfigError
from core.ports import CommandHandler
from core.spec import Config

if TYPE_CHECKING:  # the check-config path (bot.config_check) must not load asyncio for a type
    from adapters.base import Adapter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wiring:
    """What a factory may use to build an adapter."""

    config: Config
    handler: CommandHandler
    environ: Mapping[str, str]
    clock: Clock
    host: str


@dataclass(frozen=True)
class Platform:
    #: the destination prefix (``slack`` in ``slack:C123``) and ``Messenger.platform``
    name: str
    #: how people write it ("Slack")
    label: str
    #: the config table it reads, as its header is written in the file ("[slack]", "[[webhook]]")
    settings_key: str
    #: its table is present and enabled
    configured: Callable[[Config], bool]
    #: its credentials from env or files, None when they are not set (the adapter is then not started);
    #: raises ConfigError for a credentials file that cannot be used
    credentials: Callable[[Config, Mapping[str, str]], Any]
    #: "why not started": what is missing, e.g. "the Slack token is not set (SLACK_BOT_TOKEN)"
    missing: Callable[[Config], str]
    #: builds the adapter from the credentials; None for one App makes itself (console)
    build: Callable[[Wiring, Any], Adapter] | None = None
    #: the secret values in the credentials, for the log redactor
    secrets: Callable[[Any], list[str]] = lambda _: []
    #: why ``NAME`` in ``<name>:NAME`` is no destination here (None if it is)
    channel_problem: Callable[[Config, str], str | None] = lambda _c, _n: None
    #: (key, problem) the config can be refused for at load (an unreadable credentials file)
    problems: Callable[[Config], list[tuple[str, str]]] = lambda _: []
    #: what ``check-config`` should warn about although ``run`` can start (a secret variable not set)
    warnings: Callable[[Config, Mapping[str, str]], list[str]] = lambda _c, _e: []
    #: takes channel-less destinations (``console``) instead of ``<name>:NAME``
    bare: bool = False
    #: people type commands on it (a chat), so a fleet member with it set up is a front
    chat: bool = False


# ------------------------------------------------------------------ the rows' pieces


def _credential_file_problems(read: Callable[[Config, Mapping[str, str]], Any]) -> Callable[
        [Config], list[tuple[str, str]]]:
    def problems(config: Config) -> list[tuple[str, str]]:
        try:
            read(config, {})
        except ConfigError as e:
            return [(e.key, e.problem)]
        return []

    return problems


def _slack_credentials(config: Config, environ: Mapping[str, str]) -> Any:
    return slack_secrets(config.slack, config, environ) if config.slack is not None else None


def _slack_missing(config: Config) -> str:
    s = config.slack
    assert s is not None
    second = s.app_token_env if s.mode == "socket" else s.signing_secret_env
    return f"the Slack credentials are not set ({s.bot_token_env} and {second})"


def _build_slack(w: Wiring, secrets: Any) -> Adapter:
    from adapters.slack.adapter import SlackAdapter

    assert w.config.slack is not None
    return SlackAdapter(w.config.slack, w.handler, secrets, clock=w.clock)


def _discord_credentials(config: Config, environ: Mapping[str, str]) -> Any:
    return discord_token(config.discord, config, environ) if config.discord is not None else None


def _discord_missing(config: Config) -> str:
    assert config.discord is not None
    return f"the Discord token is not set ({config.discord.token_env})"


def _build_discord(w: Wiring, token: Any) -> Adapter:
    from adapters.discord.adapter import DiscordAdapter

    assert w.config.discord is not None
    return DiscordAdapter(w.config.discord, w.handler, token, clock=w.clock)


def _webhook_credentials(config: Config, environ: Mapping[str, str]) -> dict[str, str | None]:
    from adapters.webhook.secret import load_secret

    return {spec.name: load_secret(config, spec, environ) for spec in config.webhook}


def _webhook_problems(config: Config) -> list[tuple[str, str]]:
    from adapters.webhook.secret import secret_problems

    return secret_problems(config)


def _unknown_webhook(config: Config, name: str) -> str | None:
    names = [w.name for w in config.webhook]
    if name in names:
        return None
    known = f"the [[webhook]] tables are {', '.join(names)}" if names else "there is no [[webhook]] table"
    return f"no [[webhook]] is named {name!r} ({known})"


def _webhook_warnings(config: Config, environ: Mapping[str, str]) -> list[str]:
    return [f"webhook[{w.name}].secret_env: {w.secret_env} is not set; deliveries to webhook:{w.name} will fail"
            for w in config.webhook if w.secret_env and not environ.get(w.secret_env)]


def _build_webhook(w: Wiring, secrets: Any) -> Adapter:
    from adapters.webhook.adapter import WebhookMessenger

    return WebhookMessenger(list(w.config.webhook), secrets, host=w.host, clock=w.clock)


# ------------------------------------------------------------------ the table

PLATFORMS: tuple[Platform, ...] = (
    Platform(
        name="console", label="the console", settings_key="", bare=True,
        configured=lambda _: True, credentials=lambda _c, _e: True, missing=lambda _: "",
    ),
    Platform(
        name="slack", label="Slack", settings_key="[slack]",
        configured=lambda c: c.slack is not None and c.slack.enabled,
        credentials=_slack_credentials, missing=_slack_missing, build=_build_slack, chat=True,
        secrets=lambda s: s.values(), problems=_credential_file_problems(_slack_credentials),
    ),
    Platform(
        name="discord", label="Discord", settings_key="[discord]",
        configured=lambda c: c.discord is not None and c.discord.enabled,
        credentials=_discord_credentials, missing=_discord_missing, build=_build_discord, chat=True,
        secrets=lambda token: [token], problems=_credential_file_problems(_discord_credentials),
    ),
    Platform(
        name="webhook", label="a webhook", settings_key="[[webhook]]",
        configured=lambda c: bool(c.webhook),
        credentials=_webhook_credentials, missing=lambda _: "", build=_build_webhook,
        secrets=lambda by_name: [s for s in by_name.values() if s],
        channel_problem=_unknown_webhook, problems=_webhook_problems, warnings=_webhook_warnings,
    ),
)

BY_NAME: Mapping[str, Platform] = {p.name: p for p in PLATFORMS}


# ------------------------------------------------------------------ what the rest of bot/ asks


def build_adapters(config: Config, handler: CommandHandler, environ: Mapping[str, str], clock: Clock,
                   host: str) -> list[Adapter]:
    """The adapters whose platform is configured and whose credentials are set; the others are logged."""
    wiring = Wiring(config, handler, environ, clock, host)
    out: list[Adapter] = []
    for p in PLATFORMS:
        if p.build is None or not p.configured(config):
            continue
        creds = p.credentials(config, environ)
        if creds is None:
            log.warning("%s: %s; adapter not started", p.name, p.missing(config))
            continue
        out.append(p.build(wiring, creds))
    return out


def platform_problem(config: Config, environ: Mapping[str, str], platform: str, *, adapters: bool = True) -> str:
    """Why messages cannot be sent to ``platform`` at all ("" if they can, once its adapter runs)."""
    p = BY_NAME.get(platform)
    if p is None:
        return f"unknown destination platform {platform!r}"
    if not p.configured(config):
        return f"alerts go to {p.label} but {p.label} is not configured ({p.settings_key} missing or disabled)"
    if p.credentials(config, environ) is None:
        return f"alerts go to {p.label} but {p.missing(config)}"
    if not adapters:
        return f"the {platform} adapter is not started in this process"
    return ""


def secret_values(config: Config, environ: Mapping[str, str]) -> list[str]:
    """Every credential of every configured platform, for the log redactor."""
    out: list[str] = []
    for p in PLATFORMS:
        if p.configured(config):
            creds = p.credentials(config, environ)
            if creds is not None:
                out += p.secrets(creds)
    return out


def destination_problem(config: Config, destination: str) -> str | None:
    """Why ``destination`` (``console``, ``slack:C1``, ``webhook:pager``) is not one, or None."""
    name, sep, channel = destination.partition(":")
    p = BY_NAME.get(name)
    if p is None or p.bare == bool(sep):
        forms = ", ".join(q.name if q.bare else f"{q.name}:NAME" for q in PLATFORMS)
        return f"{destination!r} is not a destination ({forms})"
    return p.channel_problem(config, channel) if sep else None


def config_problems(config: Config) -> list[tuple[str, str]]:
    """(key, problem) that ``run`` refuses: credential files it cannot read, destinations that do not exist."""
    out: list[tuple[str, str]] = []
    for p in PLATFORMS:
        if p.configured(config):
            out += p.problems(config)
    for i, route in enumerate(config.alerts.route):
        out += [(f"alerts.route[{i}].to", problem) for d in route.to if (problem := destination_problem(config, d))]
    for digest in config.digest:
        out += [(f"digest[{digest.name}].to", problem) for d in digest.to
                if (problem := destination_problem(config, d))]
    return out


def unready_destinations(config: Config, environ: Mapping[str, str]) -> list[str]:
    """Warnings for ``check-config``: destinations in use whose platform could not start here."""
    used = {d.partition(":")[0] for r in config.alerts.route for d in r.to} | {
        d.partition(":")[0] for dg in config.digest for d in dg.to}
    out: list[str] = []
    for p in PLATFORMS:
        if p.name not in used:
            continue
        try:
            problem = platform_problem(config, environ, p.name)
        except ConfigError:  # already reported as a problem
            continue
        out += [problem] if problem else p.warnings(config, environ)
    return out


def chat_ready(config: Config, environ: Mapping[str, str]) -> bool:
    """A chat platform is set up here with its credentials: in a fleet, this member is a front."""
    return any(p.chat and p.configured(config) and p.credentials(config, environ) for p in PLATFORMS)
