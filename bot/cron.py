"""Cron expressions and time zones for ``[[digest]]`` entries, as APScheduler triggers.

One subtlety decides this module's existence: APScheduler 3.x numbers
weekdays from Monday = 0, while cron numbers them from Sunday = 0 (and 7).
``CronTrigger.from_crontab("0 9 * * 1-5")`` would therefore run Tuesday to
Saturday. We rewrite the day-of-week field to names (``mon-fri``), which both
agree on, before handing it over. Also accepted: ``@hourly``, ``@daily``
(``@midnight``), ``@weekly``, ``@monthly``, ``@yearly`` (``@annually``).

Unlike Vixie cron, a restricted day-of-month AND day-of-week must both match
(APScheduler's rule), not either.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


class ScheduleError(ValueError):
    """A cron expression or time zone that does not parse; ``field`` is ``cron`` or ``timezone``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError("timezone", f"unknown time zone {name!r} (use an IANA name like Europe/Paris)") from None


def _day(raw: str) -> int:
    low = raw.lower()
    if low[:3] in _DAY_NAMES and low.isalpha():
        return _DAY_NAMES.index(low[:3])
    if raw.isdigit() and 0 <= int(raw) <= 7:
        return int(raw) % 7
    raise ScheduleError("cron", f"day of week {raw!r} is not 0-7 or a day name")


def cron_days(field: str) -> set[int]:
    """A cron day-of-week field -> days with Sunday = 0."""
    days: set[int] = set()
    for item in field.split(","):
        base, _, step_raw = item.partition("/")
        if step_raw and not (step_raw.isdigit() and int(step_raw) > 0):
            raise ScheduleError("cron", f"step {step_raw!r} in day of week is not a positive number")
        step = int(step_raw) if step_raw else 1
        if base in ("*", "?"):
            lo, hi = 0, 6
        elif "-" in base:
            a, _, b = base.partition("-")
            lo, hi = _day(a), _day(b)
            if b == "7":
                hi = 7
            if hi < lo:
                raise ScheduleError("cron", f"day-of-week range {base!r} runs backwards")
        else:
            lo = _day(base)
            hi = 6 if step_raw else lo
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return days


def _dow_for_apscheduler(field: str) -> str:
    if field in ("*", "?"):
        return "*"
    days = cron_days(field)
    return ",".join(_DAY_NAMES[d] for d in sorted(days, key=lambda d: (d + 6) % 7))


def trigger(expr: str, tz: str, end_date: datetime | None = None) -> CronTrigger:
    """The APScheduler trigger for a five-field cron expression in time zone ``tz``.

    ``end_date`` bounds the trigger's search: without one, an expression that never
    matches (``0 0 31 2 *``) makes ``get_next_fire_time`` walk to year 9999 (seconds).
    """
    tzinfo = zone(tz)
    text = MACROS.get(expr.strip().lower(), expr.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError("cron", f"{expr!r} has {len(fields)} fields; a cron expression has 5 "
                                    "(minute hour day-of-month month day-of-week)")
    fields[4] = _dow_for_apscheduler(fields[4])
    try:
        return CronTrigger(minute=fields[0], hour=fields[1], day=fields[2], month=fields[3],
                           day_of_week=fields[4], timezone=tzinfo, end_date=end_date)
    except ValueError as e:
        raise ScheduleError("cron", f"{expr!r} is not a valid cron expression: {e}") from None


#: a schedule that matches no time in this many years never fires (Feb 29 on a Monday recurs within 40)
NEVER_YEARS = 50


def check_fires(expr: str, tz: str, after: float) -> None:
    """ScheduleError if ``expr`` matches no time within :data:`NEVER_YEARS` after ``after``; bounded work."""
    start = datetime.fromtimestamp(after, tz=UTC)
    bounded = trigger(expr, tz, end_date=start.replace(year=start.year + NEVER_YEARS, day=1))
    if next_fire(bounded, after) is None:
        raise ScheduleError("cron", f"{expr!r} never fires (no such date in the next {NEVER_YEARS} years, "
                                    "e.g. 31 February)")


def next_fire(trig: CronTrigger, after: float) -> float | None:
    """The first fire time at or after ``after`` (epoch seconds)."""
    nxt = trig.get_next_fire_time(None, datetime.fromtimestamp(after, tz=UTC))
    return nxt.timestamp() if nxt is not None else None


def last_fire(trig: CronTrigger, at_or_before: float, horizon: float = 400 * 86400.0) -> float | None:
    """The latest fire time <= ``at_or_before``, searching back at most ``horizon`` seconds."""
    window = 60.0
    while window <= horizon * 2:
        t = next_fire(trig, at_or_before - window)
        found = None
        while t is not None and t <= at_or_before:
            found = t
            t = next_fire(trig, t + 1.0)
        if found is not None:
            return found
        window *= 2
    return None
