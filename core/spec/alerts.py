"""Where alerts go ([[alerts.route]]), how they are grouped ([alerts]), and digests ([[digest]])."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from core.spec.base import NAME_PATTERN, Strict
from core.spec.platforms import (
    DESTINATION_PATTERN,
)


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
