"""The whole file: every table, and what is derived from them (paths, secret variable names)."""

from __future__ import annotations

import socket
from functools import cached_property
from pathlib import Path

from core.spec.access import Permissions
from core.spec.alerts import AlertSettings, DigestSpec
from core.spec.base import setting, spec_model
from core.spec.cluster import ClusterSettings
from core.spec.instances import expand_all
from core.spec.platforms import (
    DiscordSettings,
    SlackSettings,
    WebhookSpec,
)
from core.spec.programs import ProcbotSettings, ProgramSpec, WatchSpec


def _unique_webhooks(v: list[WebhookSpec]) -> list[WebhookSpec]:
    seen: set[str] = set()
    for w in v:
        if w.name in seen:
            raise ValueError(f"webhook name {w.name!r} is used twice")
        seen.add(w.name)
    return v


@spec_model
class Config:
    procbot: ProcbotSettings = setting(factory=ProcbotSettings)
    program: list[ProgramSpec] = setting(factory=list)
    watch: list[WatchSpec] = setting(factory=list)
    permissions: Permissions = setting(factory=Permissions)
    slack: SlackSettings | None = None
    discord: DiscordSettings | None = None
    alerts: AlertSettings = setting(factory=AlertSettings)
    digest: list[DigestSpec] = setting(factory=list)
    webhook: list[WebhookSpec] = setting(factory=list, check=_unique_webhooks)
    #: the fleet link; None = a single host, no NATS (the default)
    cluster: ClusterSettings | None = None
    #: where the file was read from; relative paths resolve against its folder
    source: str = ""

    def _check(self) -> None:
        seen: set[str] = set()
        for p in [*self.program, *self.watch]:
            if p.name in seen:
                raise ValueError(f"program name {p.name!r} is used twice")
            seen.add(p.name)

    @cached_property
    def managed(self) -> list[ProgramSpec]:
        """The programs procbot runs: each ``[[program]]``, or its instances (``web:0`` ...), in file order.

        ``program`` is the file as written (what check-config keys its problems by); everything that
        runs, shows or records programs reads this.
        """
        return expand_all(self.program)

    # paths are resolved once: the scanner and every spawn ask for them (Path.resolve() is a syscall per part)
    @cached_property
    def base_dir(self) -> Path:
        return Path(self.source).resolve().parent if self.source else Path.cwd()

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @cached_property
    def state_dir(self) -> Path:
        return self.resolve(self.procbot.state_dir)

    @cached_property
    def log_dir(self) -> Path:
        return self.resolve(self.procbot.log_dir) if self.procbot.log_dir else self.state_dir / "logs"

    def host(self) -> str:
        """This host's name in alerts, replies and the fleet: [cluster].host, procbot.host_name, the hostname."""
        c = self.cluster
        return (c.host if c and c.host else None) or self.procbot.host_name or socket.gethostname()

    def secret_env_names(self) -> set[str]:
        """Variables procbot reads secrets from: never passed to children."""
        names = {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_TOKEN"}
        if self.slack:
            names |= {self.slack.bot_token_env, self.slack.app_token_env, self.slack.signing_secret_env}
        if self.discord:
            names.add(self.discord.token_env)
        names |= {w.secret_env for w in self.webhook if w.secret_env}
        if self.cluster:
            names |= {n for n in (self.cluster.password_env, self.cluster.token_env) if n}
        return names
