"""What a program, a watched program and procbot itself may be configured with."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from core.spec.base import NAME_PATTERN, Strict, checked_path, checked_program_name, checked_signal_name


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
        return checked_signal_name(v)

    _name = field_validator("name")(checked_program_name)
    _cwd = field_validator("cwd")(checked_path)

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

    _name = field_validator("name")(checked_program_name)
    _pidfile = field_validator("pidfile")(checked_path)

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

    _paths = field_validator("state_dir", "log_dir")(checked_path)
