"""The chat platforms' and alert destinations' tables: [slack], [discord], [[webhook]]."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from core.spec.base import checked_path, setting, spec_model


@spec_model
class SlackSettings:
    enabled: bool = True
    mode: Literal["socket", "http"] = "socket"
    command: str = setting("/proc", pattern=r"^/[a-z0-9_-]{1,31}$")
    api_url: str | None = setting(None, description="Web API base, e.g. https://slack.com/api/")
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    token_file: str | None = setting(None, check=checked_path,
                                     description="TOML file with bot_token/app_token/signing_secret")
    http_host: str = "0.0.0.0"
    http_port: int = setting(3000, ge=0, le=65535)
    http_path: str = "/slack/events"
    public_replies: bool = False
    usergroup_cache_ttl: float = setting(300.0, ge=0)


@spec_model
class DiscordSettings:
    enabled: bool = True
    token_env: str = "DISCORD_TOKEN"
    token_file: str | None = setting(None, check=checked_path)
    application_id: str | None = None
    guilds: list[str] = setting(factory=list, description="guild IDs to sync commands to; empty = global")
    api_base: str | None = setting(None, description="REST base, e.g. https://discord.com/api/v10")
    gateway_url: str | None = None
    public_replies: bool = False


#: the shape of a destination; which platforms exist is bot/platforms.py's table (checked at load)
DESTINATION_PATTERN = r"^(console|[a-z][a-z0-9_-]*:[A-Za-z0-9_-]+)$"
#: a webhook's name is the NAME of ``webhook:NAME``, so it has a destination's characters
WEBHOOK_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
#: RFC 9110 token characters: what an HTTP header name may hold
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: headers procbot sets on every webhook request itself (a config may not replace them)
WEBHOOK_OWN_HEADERS = frozenset({"content-type", "content-length", "host", "x-procbot-timestamp",
                                 "x-procbot-signature", "x-procbot-delivery"})


def _checked_url(v: str) -> str:
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError as e:
        raise ValueError(f"{v!r} is not a URL: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{v!r} is not an http:// or https:// URL")
    return v


def _checked_headers(v: dict[str, str]) -> dict[str, str]:
    for name, value in v.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not an HTTP header name")
        if name.lower() in WEBHOOK_OWN_HEADERS:
            raise ValueError(f"{name} is set by procbot itself")
        if any(c in value for c in "\r\n"):
            raise ValueError(f"the value of {name} holds a line break")
    return v


@spec_model
class WebhookSpec:
    """A ``[[webhook]]`` table: an HTTP endpoint alerts are POSTed to as JSON (``webhook:NAME`` in routes)."""

    name: str = setting(pattern=WEBHOOK_NAME_PATTERN)
    url: str = setting(check=_checked_url, description="http:// or https:// URL the JSON is POSTed to")
    secret_file: str | None = setting(None, check=checked_path,
                                      description="file holding the HMAC-SHA256 signing secret")
    secret_env: str | None = setting(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                     description="environment variable holding the signing secret")
    headers: dict[str, str] = setting(factory=dict, check=_checked_headers, description="extra request headers")
    timeout: float = setting(10.0, gt=0, le=120, description="seconds to wait for the receiver's answer")

    def _check(self) -> None:
        if self.secret_file and self.secret_env:
            raise ValueError("give secret_file or secret_env, not both")
