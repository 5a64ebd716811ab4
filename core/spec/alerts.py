"""Where alerts go ([[alerts.route]]), how they are grouped ([alerts]), and digests ([[digest]])."""

from __future__ import annotations

import re

from core.spec.base import NAME_PATTERN, setting, spec_model
from core.spec.platforms import DESTINATION_PATTERN


def checked_destinations(v: list[str]) -> list[str]:
    for d in v:
        if not re.match(DESTINATION_PATTERN, d):
            raise ValueError(f"{d!r} is not a destination (console, slack:CHANNEL_ID, discord:CHANNEL_ID, "
                             "webhook:NAME)")
    return v


@spec_model
class Route:
    match: list[str] = setting(factory=lambda: ["*"], description="program globs or group:NAME")
    to: list[str] = setting(min_length=1, check=checked_destinations,
                            description="destinations: console, slack:CHANNEL, discord:CHANNEL, webhook:NAME")


@spec_model
class AlertSettings:
    route: list[Route] = setting(factory=lambda: [Route(to=["console"])])
    log_lines: int = setting(10, ge=0, le=100)
    flap_window: float = setting(300.0, gt=0)
    repeat_interval: float = setting(4 * 3600.0, gt=0)
    group_window: float = setting(10.0, ge=0)
    group_threshold: int = setting(5, ge=2)
    group_hold: float = setting(0.25, ge=0, le=60, description="seconds the 2nd..(threshold-1)th failure "
                                "of a burst waits to see whether a storm (one grouped alert) is starting")


@spec_model
class DigestSpec:
    name: str = setting(pattern=NAME_PATTERN)
    cron: str = setting(description="five-field cron expression")
    timezone: str = "UTC"
    to: list[str] = setting(min_length=1, check=checked_destinations)
    programs: list[str] = setting(factory=lambda: ["*"])
    grace: float = setting(3600.0, ge=0, description="catch up a missed digest if within this many seconds")
