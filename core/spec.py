"""Configuration models: what the TOML file may say, validated at load.

Every model forbids unknown keys so a typo is an error naming the key,
not a setting silently ignored.
"""

from __future__ import annotations

import re
import signal
import socket
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: words the command grammar reads as a target of their own: a program so named could never be addressed
RESERVED_NAMES = frozenset({"all"})
SIGNALS = {s.name for s in signal.Signals}


def _holds_nul(v: object) -> bool:
    if isinstance(v, str):
        return "\x00" in v
    if isinstance(v, list | tuple):
        return any(_holds_nul(x) for x in v)
    if isinstance(v, dict):
        return any(_holds_nul(k) or _holds_nul(x) for k, x in v.items())
    return False


class Strict(BaseModel):
    # inf and nan are refused everywhere: `grace = inf` or `scan_interval = nan` would break timers at run time
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, v: object) -> object:
        """No text in the config may hold NUL: the OS refuses it in paths, argv and the environment."""
        if _holds_nul(v):
            raise ValueError("may not contain NUL bytes")
        return v


def _path(v: str | None) -> str | None:
    """A path procbot can resolve: ``~user`` must name a user (Path.expanduser raises otherwise)."""
    if v is None:
        return v
    if not v.strip():
        raise ValueError("is empty")
    try:
        Path(v).expanduser()
    except RuntimeError:
        raise ValueError(f"{v!r}: no such user ({v.split('/', 1)[0]})") from None
    return v


def _program_name(v: str) -> str:
    if v in RESERVED_NAMES:
        raise ValueError(f"{v!r} is reserved: the command grammar reads it as a target "
                         f"({', '.join(sorted(RESERVED_NAMES))}), so the program could not be addressed")
    return v


class Backoff(Strict):
    initial: float = Field(1.0, ge=0, le=3600, description="delay before the 2nd quick restart, seconds")
    factor: float = Field(2.0, ge=1, le=10)
    max: float = Field(60.0, gt=0, le=86400)


class GiveUp(Strict):
    failures: int = Field(5, ge=1, le=10000, description="failures in the window before giving up")
    window: float = Field(300.0, gt=0, description="seconds")


class LogRotation(Strict):
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    backups: int = Field(5, ge=0, le=100)
    timestamps: bool = Field(False, description="prefix each line with its UTC arrival time")
    stderr_file: bool = Field(False, description="stderr to <program>.err.log instead of the .log")
    rate_limit_burst: int = Field(0, ge=0, description="lines per interval, then suppressed (counted); 0 = off")
    rate_limit_interval: float = Field(30.0, gt=0, le=86400, description="seconds")


def _signal_name(v: str) -> str:
    name = v.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name not in SIGNALS:
        raise ValueError(f"unknown signal {v!r}")
    return name


class ProgramSpec(Strict):
    """A program procbot starts and keeps alive (managed)."""

    name: str = Field(pattern=NAME_PATTERN)
    command: list[str] = Field(min_length=1, description="argv list; never run through a shell")
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    autostart: bool = True
    restart: Literal["always", "on-failure", "never"] = "on-failure"
    expected_exit_codes: list[int] = Field(default_factory=lambda: [0])
    min_uptime: float = Field(1.0, ge=0, description="seconds a start must last to count as successful")
    backoff: Backoff = Backoff()
    give_up: GiveUp = GiveUp()
    stop_signal: str = "SIGTERM"
    stop_timeout: float = Field(10.0, gt=0, le=3600)
    group: str | None = Field(None, pattern=NAME_PATTERN)
    log: LogRotation = LogRotation()

    @field_validator("command", mode="before")
    @classmethod
    def _not_a_shell_string(cls, v: object) -> object:
        if isinstance(v, str):
            raise ValueError('must be a list of arguments like ["python3", "app.py"]; procbot never runs a shell')
        return v

    @field_validator("command")
    @classmethod
    def _argv(cls, v: list[str]) -> list[str]:
        if not v[0].strip():
            raise ValueError("the executable (first element) is empty")
        if any("\x00" in a for a in v):
            raise ValueError("arguments may not contain NUL bytes")
        return v

    @field_validator("stop_signal")
    @classmethod
    def _sig(cls, v: str) -> str:
        return _signal_name(v)

    _name = field_validator("name")(_program_name)
    _cwd = field_validator("cwd")(_path)

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
                raise ValueError(f"{k!r} is not a valid environment variable name")
        return v


class WatchSpec(Strict):
    """A program started elsewhere that procbot only watches."""

    name: str = Field(pattern=NAME_PATTERN)
    pidfile: str | None = None
    pattern: str | None = Field(None, description="regex matched against the full command line")
    group: str | None = Field(None, pattern=NAME_PATTERN)

    _name = field_validator("name")(_program_name)
    _pidfile = field_validator("pidfile")(_path)

    @model_validator(mode="after")
    def _one_source(self) -> WatchSpec:
        if (self.pidfile is None) == (self.pattern is None):
            raise ValueError("give exactly one of pidfile or pattern")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"pattern is not a valid regular expression: {e}") from e
        return self


class ProcbotSettings(Strict):
    state_dir: str = Field(".state", description="SQLite file, control socket, procbot's own log")
    log_dir: str | None = Field(None, description="program logs; default <state_dir>/logs")
    scan_interval: float = Field(10.0, ge=0.1, le=3600, description="metrics only: exits are seen at once")
    tree_scan_every: int = Field(3, ge=1, description="discover child processes every N scans")
    stop_programs_on_exit: bool = True
    host_name: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    sample_retention_days: int = Field(30, ge=1)
    keep_runs_days: int = Field(90, ge=1, description="runs that ended longer ago are pruned (open runs and "
                                "the newest keep_runs_per_program of each program are always kept)")
    keep_runs_per_program: int = Field(100, ge=1)
    keep_audit_days: int = Field(90, ge=1)
    keep_audit_rows: int = Field(100_000, ge=100)
    cgroup: Literal["auto", "off"] = Field("auto", description="one cgroup v2 per program where writable")
    orphans: Literal["stop", "leave"] = Field("stop", description="a live process of an unconfigured program")

    _paths = field_validator("state_dir", "log_dir")(_path)


class Grant(Strict):
    role: Literal["viewer", "operator", "admin"]
    platform: Literal["slack", "discord", "any"] = "any"
    users: list[str] = Field(default_factory=list, description="platform user IDs")
    groups: list[str] = Field(default_factory=list, description="Slack user-group IDs or Discord role IDs")
    programs: list[str] = Field(default_factory=list, description="globs or group:NAME; empty = all")
    channels: list[str] = Field(default_factory=list, description="channel IDs; empty = any")

    @model_validator(mode="after")
    def _someone(self) -> Grant:
        if not self.users and not self.groups:
            raise ValueError("a grant needs users or groups")
        return self


class Permissions(Strict):
    default_role: Literal["none", "viewer"] = "none"
    grants: list[Grant] = Field(default_factory=list)
    confirm_timeout: float = Field(120.0, gt=0)


class SlackSettings(Strict):
    enabled: bool = True
    mode: Literal["socket", "http"] = "socket"
    command: str = Field("/proc", pattern=r"^/[a-z0-9_-]{1,31}$")
    api_url: str | None = Field(None, description="Web API base, e.g. https://slack.com/api/")
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    token_file: str | None = Field(None, description="TOML file with bot_token/app_token/signing_secret")
    http_host: str = "0.0.0.0"
    http_port: int = Field(3000, ge=0, le=65535)
    http_path: str = "/slack/events"
    public_replies: bool = False
    usergroup_cache_ttl: float = Field(300.0, ge=0)

    _token_file = field_validator("token_file")(_path)


class DiscordSettings(Strict):
    enabled: bool = True
    token_env: str = "DISCORD_TOKEN"
    token_file: str | None = None
    application_id: str | None = None
    guilds: list[str] = Field(default_factory=list, description="guild IDs to sync commands to; empty = global")
    api_base: str | None = Field(None, description="REST base, e.g. https://discord.com/api/v10")
    gateway_url: str | None = None
    public_replies: bool = False

    _token_file = field_validator("token_file")(_path)


#: the shape of a destination; which platforms exist is bot/platforms.py's table (checked at load)
DESTINATION_PATTERN = r"^(console|[a-z][a-z0-9_-]*:[A-Za-z0-9_-]+)$"
#: a webhook's name is the NAME of ``webhook:NAME``, so it has a destination's characters
WEBHOOK_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
#: RFC 9110 token characters: what an HTTP header name may hold
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: headers procbot sets on every webhook request itself (a config may not replace them)
WEBHOOK_OWN_HEADERS = frozenset({"content-type", "content-length", "host", "x-procbot-timestamp",
                                 "x-procbot-signature", "x-procbot-delivery"})


class Route(Strict):
    match: list[str] = Field(default_factory=lambda: ["*"], description="program globs or group:NAME")
    to: list[str] = Field(min_length=1, description="destinations: console, slack:CHANNEL, discord:CHANNEL, "
                          "webhook:NAME")

    @field_validator("to")
    @classmethod
    def _dest(cls, v: list[str]) -> list[str]:
        for d in v:
            if not re.match(DESTINATION_PATTERN, d):
                raise ValueError(f"{d!r} is not a destination (console, slack:CHANNEL_ID, discord:CHANNEL_ID, "
                                 "webhook:NAME)")
        return v


class WebhookSpec(Strict):
    """A ``[[webhook]]`` table: an HTTP endpoint alerts are POSTed to as JSON (``webhook:NAME`` in routes)."""

    name: str = Field(pattern=WEBHOOK_NAME_PATTERN)
    url: str = Field(description="http:// or https:// URL the JSON is POSTed to")
    secret_file: str | None = Field(None, description="file holding the HMAC-SHA256 signing secret")
    secret_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                   description="environment variable holding the signing secret")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    timeout: float = Field(10.0, gt=0, le=120, description="seconds to wait for the receiver's answer")

    _secret_file = field_validator("secret_file")(_path)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018  (raises for a port that is not a number)
        except ValueError as e:
            raise ValueError(f"{v!r} is not a URL: {e}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http:// or https:// URL")
        return v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if name.lower() in WEBHOOK_OWN_HEADERS:
                raise ValueError(f"{name} is set by procbot itself")
            if any(c in value for c in "\r\n"):
                raise ValueError(f"the value of {name} holds a line break")
        return v

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookSpec:
        if self.secret_file and self.secret_env:
            raise ValueError("give secret_file or secret_env, not both")
        return self


class AlertSettings(Strict):
    route: list[Route] = Field(default_factory=lambda: [Route(to=["console"])])
    log_lines: int = Field(10, ge=0, le=100)
    flap_window: float = Field(300.0, gt=0)
    repeat_interval: float = Field(4 * 3600.0, gt=0)
    group_window: float = Field(10.0, ge=0)
    group_threshold: int = Field(5, ge=2)
    group_hold: float = Field(0.25, ge=0, le=60, description="seconds the 2nd..(threshold-1)th failure "
                              "of a burst waits to see whether a storm (one grouped alert) is starting")


class DigestSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    cron: str = Field(description="five-field cron expression")
    timezone: str = "UTC"
    to: list[str] = Field(min_length=1)
    programs: list[str] = Field(default_factory=lambda: ["*"])
    grace: float = Field(3600.0, ge=0, description="catch up a missed digest if within this many seconds")

    _dest = field_validator("to")(Route._dest.__func__)  # type: ignore[attr-defined]


#: a fleet host name is one NATS subject token: no dots (separators), wildcards (* >) or spaces
HOST_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class ClusterTLS(Strict):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    _paths = field_validator("ca_file", "cert_file", "key_file")(_path)

    @model_validator(mode="after")
    def _pair(self) -> ClusterTLS:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file (a client certificate), or neither")
        return self


class ClusterSettings(Strict):
    """``[cluster]``: join a fleet through a NATS server. Secrets are named here, never written here."""

    url: str = Field("nats://127.0.0.1:4222", description="nats:// or tls:// URL; several: comma-separated")
    host: str | None = Field(None, pattern=HOST_PATTERN, description="this host's name in the fleet; "
                             "default: procbot.host_name, else the hostname")
    user: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    token_env: str | None = None
    token_file: str | None = None
    nkey_seed_file: str | None = None
    creds_file: str | None = Field(None, description="a .creds file (JWT + NKey seed)")
    tls: ClusterTLS | None = None
    role: Literal["auto", "host", "front"] = Field("auto", description="front = serve chat for the whole fleet; "
                                                   "auto: a front when this config has chat credentials")
    request_timeout: float = Field(5.0, gt=0, le=300, description="seconds a remote command may take")
    heartbeat_interval: float = Field(5.0, gt=0, le=3600)
    heartbeat_ttl: float = Field(15.0, gt=0, le=86400, description="a host silent this long is an incident")
    stream_max_age: float = Field(7 * 86400.0, ge=60, description="seconds JetStream keeps a host's events")

    _paths = field_validator("password_file", "token_file", "nkey_seed_file", "creds_file")(_path)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        for u in v.split(","):
            if not re.match(r"^(nats|tls|ws|wss)://[^\s/]+$", u.strip()):
                raise ValueError(f"{u.strip()!r} is not a NATS server URL (nats://HOST:PORT or tls://HOST:PORT)")
        return v

    @model_validator(mode="after")
    def _one_credential(self) -> ClusterSettings:
        ways = {
            "user": self.user is not None or self.password_env is not None or self.password_file is not None,
            "token": self.token_env is not None or self.token_file is not None,
            "nkey_seed_file": self.nkey_seed_file is not None,
            "creds_file": self.creds_file is not None,
        }
        chosen = [k for k, on in ways.items() if on]
        if len(chosen) > 1:
            raise ValueError(f"give one way to authenticate, not {' and '.join(chosen)}")
        if ways["user"] and (self.user is None or (self.password_env is None) == (self.password_file is None)):
            raise ValueError("user needs exactly one of password_env or password_file")
        if self.token_env is not None and self.token_file is not None:
            raise ValueError("give token_env or token_file, not both")
        if self.heartbeat_ttl <= self.heartbeat_interval:
            raise ValueError("heartbeat_ttl must be longer than heartbeat_interval")
        return self


class Config(Strict):
    procbot: ProcbotSettings = ProcbotSettings()
    program: list[ProgramSpec] = Field(default_factory=list)
    watch: list[WatchSpec] = Field(default_factory=list)
    permissions: Permissions = Permissions()
    slack: SlackSettings | None = None
    discord: DiscordSettings | None = None
    alerts: AlertSettings = AlertSettings()
    digest: list[DigestSpec] = Field(default_factory=list)
    webhook: list[WebhookSpec] = Field(default_factory=list)
    #: the fleet link; None = a single host, no NATS (the default)
    cluster: ClusterSettings | None = None
    #: where the file was read from; relative paths resolve against its folder
    source: str = ""

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for p in [*self.program, *self.watch]:
            if p.name in seen:
                raise ValueError(f"program name {p.name!r} is used twice")
            seen.add(p.name)
        return self

    @field_validator("webhook")
    @classmethod
    def _unique_webhooks(cls, v: list[WebhookSpec]) -> list[WebhookSpec]:
        seen: set[str] = set()
        for w in v:
            if w.name in seen:
                raise ValueError(f"webhook name {w.name!r} is used twice")
            seen.add(w.name)
        return v

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
