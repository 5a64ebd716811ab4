"""What a program, a watched program and procbot itself may be configured with."""

from __future__ import annotations

import re
from typing import Literal

from core.health.targets import host_port, http_target
from core.spec.base import (
    NAME_PATTERN,
    checked_path,
    checked_program_name,
    checked_signal_name,
    setting,
    spec_model,
)
from core.spec.instances import MAX_INSTANCES, PLACEHOLDER
from core.spec.limits import checked_limits, checked_umask
from core.spec.sizes import memory_size, size_or_none


@spec_model
class Backoff:
    initial: float = setting(1.0, ge=0, le=3600, description="delay before the 2nd quick restart, seconds")
    factor: float = setting(2.0, ge=1, le=10)
    max: float = setting(60.0, gt=0, le=86400)


@spec_model
class GiveUp:
    failures: int = setting(5, ge=1, le=10000, description="failures in the window before giving up")
    window: float = setting(300.0, gt=0, description="seconds")


@spec_model
class LogRotation:
    max_bytes: int = setting(10 * 1024 * 1024, ge=1024)
    backups: int = setting(5, ge=0, le=100)
    timestamps: bool = setting(False, description="prefix each line with its UTC arrival time")
    stderr_file: bool = setting(False, description="stderr to <program>.err.log instead of the .log")
    rate_limit_burst: int = setting(0, ge=0, description="lines per interval, then suppressed (counted); 0 = off")
    rate_limit_interval: float = setting(30.0, gt=0, le=86400, description="seconds")


def _not_a_shell_string(v: object) -> object:
    if isinstance(v, str):
        raise ValueError('must be a list of arguments like ["python3", "app.py"]; procbot never runs a shell')
    return v


def _argv(v: list[str]) -> list[str]:
    if not v[0].strip():
        raise ValueError("the executable (first element) is empty")
    if any("\x00" in a for a in v):
        raise ValueError("arguments may not contain NUL bytes")
    return v


def _id_name(v: str | int | None) -> str | int | None:
    """A user or group as a name or a numeric id; whether it exists is the machine's to say (check-config)."""
    if isinstance(v, bool) or (isinstance(v, int) and v < 0):
        raise ValueError(f"{v!r} is not a user or group name or id")
    if isinstance(v, str) and not v.strip():
        raise ValueError("is empty")
    return v


def _id_names(v: list[str | int] | None) -> list[str | int] | None:
    for x in v or []:
        _id_name(x)
    return v


def _env_files(v: list[str]) -> list[str]:
    for f in v:
        if not f.removeprefix("-").strip():
            raise ValueError("an env file path is empty")
        checked_path(f.removeprefix("-"))
    return v


def _env_names(v: dict[str, str]) -> dict[str, str]:
    for k in v:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
            raise ValueError(f"{k!r} is not a valid environment variable name")
    return v


def _dependency_names(v: list[str]) -> list[str]:
    seen: set[str] = set()
    for name in v:
        if not re.match(NAME_PATTERN, name):
            raise ValueError(f"{name!r} is not a program name (an instance like web:2 cannot be named: "
                             "name the program, and it waits for all its instances)")
        if name in seen:
            raise ValueError(f"{name!r} is named twice")
        seen.add(name)
    return v


def _http_url(v: str | None) -> str | None:
    if v is not None:
        http_target(v.replace(PLACEHOLDER, "0"))  # each instance's own URL: "http://127.0.0.1:900{instance}/"
    return v


def _tcp_target(v: str | None) -> str | None:
    if v is not None:
        host_port(v.replace(PLACEHOLDER, "0"))
    return v


def _health_argv(v: list[str] | None) -> list[str] | None:
    return None if v is None else _argv(v)


@spec_model
class HealthSpec:
    """A program's health check: one probe, run every ``interval`` while it runs (see core.health)."""

    http: str | None = setting(None, check=_http_url,
                               description="GET this URL; a 2xx or 3xx answer is healthy (redirects not followed)")
    tcp: str | None = setting(None, check=_tcp_target, description="host:port that must accept a connection")
    command: list[str] | None = setting(None, min_length=1, before=_not_a_shell_string, check=_health_argv,
                                        description="argv run without a shell; exit 0 is healthy")
    interval: float = setting(10.0, ge=0.1, le=86400, description="seconds from one probe's end to the next")
    timeout: float = setting(5.0, gt=0, le=3600, description="seconds a probe may take; a hung one fails")
    failures: int = setting(3, ge=1, le=1000, description="consecutive failed probes before unhealthy")
    start_period: float = setting(0.0, ge=0, le=86400,
                                  description="seconds after the start when failed probes do not count")
    allow_remote: bool = setting(False, description="allow a target that is not this host (loopback)")

    def _check(self) -> None:
        if sum(x is not None for x in (self.http, self.tcp, self.command)) != 1:
            raise ValueError("give exactly one of http, tcp or command")


@spec_model
class ProgramSpec:
    """A program procbot starts and keeps alive (managed)."""

    name: str = setting(pattern=NAME_PATTERN, check=checked_program_name)
    command: list[str] = setting(min_length=1, before=_not_a_shell_string, check=_argv,
                                 description="argv list; never run through a shell")
    cwd: str | None = setting(None, check=checked_path)
    env: dict[str, str] = setting(factory=dict, check=_env_names)
    autostart: bool = True
    restart: Literal["always", "on-failure", "never"] = "on-failure"
    expected_exit_codes: list[int] = setting(factory=lambda: [0])
    min_uptime: float = setting(1.0, ge=0, description="seconds a start must last to count as successful")
    backoff: Backoff = setting(factory=Backoff)
    give_up: GiveUp = setting(factory=GiveUp)
    stop_signal: str = setting("SIGTERM", check=checked_signal_name)
    stop_timeout: float = setting(10.0, gt=0, le=3600)
    group: str | None = setting(None, pattern=NAME_PATTERN)
    log: LogRotation = setting(factory=LogRotation)
    # -- who the program runs as, its env files, its resource limits (issue 11; core/process/spawn_args.py)
    # ``group`` above is procbot's own grouping (group:NAME targets); the OS group is ``user_group``.
    user: str | int | None = setting(None, check=_id_name,
                                     description="run as this user (name or uid); procbot must run as root")
    user_group: str | int | None = setting(None, check=_id_name,
                                           description="the OS group (name or gid); default: the user's")
    extra_groups: list[str | int] | None = setting(None, check=_id_names,
                                                   description="supplementary groups; default: the user's "
                                                   "groups from the group database (none without user)")
    umask: int | str | None = setting(None, check=checked_umask, description='"0027" or 0o027; default: inherited')
    env_file: list[str] = setting(factory=list, check=_env_files,
                                  description="dotenv files read at each start, in order, under env; "
                                  "a leading - marks a file that may be missing")
    limits: dict[str, int | str | list[int | str]] = setting(factory=dict, check=checked_limits,
                                                             description="nofile, nproc, core, as, ...: "
                                                             "one value (soft = hard) or [soft, hard]")
    # -- memory limit and scheduled restart (max_memory, restart_cron; core/process/memory_limit.py,
    #    bot/restart_schedule.py). Sizes take "512MiB", "1GiB", "500MB" or bytes (core/spec/sizes.py).
    max_memory: int | None = setting(None, before=size_or_none, check=memory_size,
                                     description="restart (gracefully) when the tree's RSS stays above this")
    max_memory_samples: int = setting(3, ge=1, le=1000,
                                      description="consecutive scans above max_memory before the restart")
    max_memory_hard: int | None = setting(None, before=size_or_none, check=memory_size,
                                          description="cgroup memory.max (kernel OOM kill); default "
                                                      "1.5 x max_memory")
    restart_cron: str | None = setting(None, description="five-field cron: restart the program if running")
    restart_cron_timezone: str = setting("UTC", description="IANA time zone of restart_cron")

    # -- instances and start order (issue 11): expanded in core/spec/instances.py, checked across programs in
    #    core/spec/order.py, carried out by core/process/order.py
    instances: int = setting(1, ge=1, le=MAX_INSTANCES,
                             description="run N copies, NAME:0 ... NAME:N-1; {instance} in command, env, cwd, health")
    depends_on: list[str] = setting(factory=list, check=_dependency_names,
                                    description="programs (or watched programs) that must be ready first")
    priority: int = setting(999, ge=-1_000_000, le=1_000_000,
                            description="lower starts first and stops last (supervisord's priority)")
    # -- health checks (helper C, core.health): probed while the program runs; a program that fails
    # `health.failures` probes in a row is `unhealthy`, alerted once, and restarted or left running
    health: HealthSpec | None = None
    on_unhealthy: Literal["restart", "alert"] = setting(
        "restart", description="restart: restart it (like a liveness probe); alert: only alert, keep it running")

    def _check(self) -> None:
        if self.max_memory_hard is not None:
            if self.max_memory is None:
                raise ValueError("max_memory_hard needs max_memory (the restart limit it backs up)")
            if self.max_memory_hard < self.max_memory:
                raise ValueError("max_memory_hard is below max_memory: the kernel would kill the program "
                                 "before procbot could restart it")


@spec_model
class WatchSpec:
    """A program started elsewhere that procbot only watches."""

    name: str = setting(pattern=NAME_PATTERN, check=checked_program_name)
    pidfile: str | None = setting(None, check=checked_path)
    pattern: str | None = setting(None, description="regex matched against the full command line")
    group: str | None = setting(None, pattern=NAME_PATTERN)

    def _check(self) -> None:
        if (self.pidfile is None) == (self.pattern is None):
            raise ValueError("give exactly one of pidfile or pattern")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"pattern is not a valid regular expression: {e}") from e


@spec_model
class ProcbotSettings:
    state_dir: str = setting(".state", check=checked_path,
                             description="SQLite file, control socket, procbot's own log")
    log_dir: str | None = setting(None, check=checked_path, description="program logs; default <state_dir>/logs")
    scan_interval: float = setting(10.0, ge=0.1, le=3600, description="metrics only: exits are seen at once")
    tree_scan_every: int = setting(3, ge=1, description="discover child processes every N scans")
    stop_programs_on_exit: bool = True
    host_name: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    sample_retention_days: int = setting(30, ge=1)
    keep_runs_days: int = setting(90, ge=1, description="runs that ended longer ago are pruned (open runs and "
                                  "the newest keep_runs_per_program of each program are always kept)")
    keep_runs_per_program: int = setting(100, ge=1)
    keep_audit_days: int = setting(90, ge=1)
    keep_audit_rows: int = setting(100_000, ge=100)
    cgroup: Literal["auto", "off"] = setting("auto", description="one cgroup v2 per program where writable")
    orphans: Literal["stop", "leave"] = setting("stop", description="a live process of an unconfigured program")
