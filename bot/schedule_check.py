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
        try:
            zone(d.timezone)
        except ScheduleError as e:
            out.append((f"{key}.timezone", e.problem))
            continue
        try:
            check_fires(d.cron, d.timezone, time.time() if now is None else now)
        except ScheduleError as e:
            out.append((f"{key}.{e.field}", e.problem))
    return out


def restart_cron_problems(config: Config, now: float | None = None) -> list[tuple[str, str]]:
    """(key, problem) pairs, e.g. ``("program[web].restart_cron_timezone", "unknown time zone 'Mars/Base'")``."""
    out: list[tuple[str, str]] = []
    for p in config.program:
        if p.restart_cron is None:
            continue
        key = f"program[{p.name}]"
        try:
            zone(p.restart_cron_timezone)
        except ScheduleError as e:
            out.append((f"{key}.restart_cron_timezone", e.problem))
            continue
        try:
            check_fires(p.restart_cron, p.restart_cron_timezone, time.time() if now is None else now)
        except ScheduleError as e:
            out.append((f"{key}.restart_cron", e.problem))
    return out
