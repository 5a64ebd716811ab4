"""Configuration models: what the TOML file may say.

Plain frozen dataclasses, so the daemon runs without pydantic; ``core.spec.validation``
checks a file against them (every model forbids unknown keys, so a typo is an error
naming the key, not a setting silently ignored) and ``core.spec.build`` rebuilds a
checked config from its JSON form.
"""

from core.spec.access import Grant, Permissions
from core.spec.alerts import AlertSettings, DigestSpec, Route
from core.spec.base import NAME_PATTERN, RESERVED_NAMES, SIGNALS
from core.spec.cluster import HOST_PATTERN, ClusterSettings, ClusterTLS
from core.spec.config import Config
from core.spec.platforms import (
    DESTINATION_PATTERN,
    WEBHOOK_NAME_PATTERN,
    WEBHOOK_OWN_HEADERS,
    DiscordSettings,
    SlackSettings,
    WebhookSpec,
)
from core.spec.programs import Backoff, GiveUp, HealthSpec, LogRotation, ProcbotSettings, ProgramSpec, WatchSpec

__all__ = [
    "DESTINATION_PATTERN",
    "HOST_PATTERN",
    "NAME_PATTERN",
    "RESERVED_NAMES",
    "SIGNALS",
    "WEBHOOK_NAME_PATTERN",
    "WEBHOOK_OWN_HEADERS",
    "AlertSettings",
    "Backoff",
    "ClusterSettings",
    "ClusterTLS",
    "Config",
    "DigestSpec",
    "DiscordSettings",
    "GiveUp",
    "Grant",
    "HealthSpec",
    "LogRotation",
    "Permissions",
    "ProcbotSettings",
    "ProgramSpec",
    "Route",
    "SlackSettings",
    "WatchSpec",
    "WebhookSpec",
]
