"""Checks of schedules that pydantic cannot make: cron syntax and time zones of ``[[digest]]``
entries and of each program's ``restart_cron``.

Part of the problems ``load_config`` refuses (through ``bot.config_check``),
so ``check-config``, ``run`` and reload all reject a typo in a schedule, or
one that can never fire, as an error naming its key, never a digest that
silently never comes (or a start-up that searches to year 9999 for it).
"""

from __future__ import annotations

import time

from bot.cron import ScheduleError, check_fires, zone
from core.spec import Config


def digest_problems(config: Config, now: float | None = None) -> list[tuple[str, str]]:
    """(key, problem) pairs, e.g. ``("digest[daily].cron", "'0 25 * * *' is not a valid cron expression: ...")``."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for d in config.digest:
        key = f"digest[{d.name}]"
        if d.name in seen:
            out.append((f"{key}.name", f"digest name {d.name!r} is used twice"))
        seen.add(d.name)
        out += _schedule_problems(d.cron, d.timezone, f"{key}.cron", f"{key}.timezone", now)
    return out


def restart_cron_problems(config: Config, now: float | None = None) -> list[tuple[str, str]]:
    """(key, problem) pairs, e.g. ``("program[web].restart_cron_timezone", "unknown time zone 'Mars/Base'")``."""
    out: list[tuple[str, str]] = []
    for p in config.program:
        if p.restart_cron is not None:
            key = f"program[{p.name}]"
            out += _schedule_problems(p.restart_cron, p.restart_cron_timezone, f"{key}.restart_cron",
                                      f"{key}.restart_cron_timezone", now)
    return out


def _schedule_problems(cron: str, timezone: str, cron_key: str, zone_key: str,
                       now: float | None) -> list[tuple[str, str]]:
    """One schedule: its zone must exist, then its expression must parse and fire (the zone's problem first:
    a fire time cannot be searched for in a zone that does not exist)."""
    try:
        zone(timezone)
    except ScheduleError as e:
        return [(zone_key, e.problem)]
    try:
        check_fires(cron, timezone, time.time() if now is None else now)
    except ScheduleError as e:
        return [(cron_key if e.field == "cron" else zone_key, e.problem)]
    return []
