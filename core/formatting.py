"""Human formats shared by replies, alerts and digests.

Times: :func:`when` writes a time with its zone ("2024-01-15 09:00:00 CET"),
in a given IANA zone or the host's. :func:`stamp` marks a time in reply text
for the renderers: Slack and Discord show it in each reader's own time zone
(``<!date^...>``, ``<t:...:f>``), plain text shows the fallback written in
the given zone. Sizes are binary (KiB, MiB, GiB), which is what they are.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from zoneinfo import ZoneInfo

#: a time in reply text: ``STAMP_OPEN epoch | fallback STAMP_CLOSE`` (private-use characters no one types)
STAMP_OPEN, STAMP_CLOSE = "\ue000", "\ue001"
STAMP = re.compile("\ue000(\\d+)\\|([^\ue001]*)\ue001")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def ago(seconds: float) -> str:
    """``2m ago``: how long since a host was last heard from, in one unit."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s ago"
    if s < 3600:
        return f"{s // 60}m ago"
    if s < 86400:
        return f"{s // 3600}h ago"
    return f"{s // 86400}d ago"


def size(n: float | None) -> str:
    if not n:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}TiB"


def _zone(tz: str | None) -> ZoneInfo | None:
    if not tz:
        return None
    # imported here, not at the top: `procbot status` needs only plain_stamps (zoneinfo and datetime cost ms)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # check-config rejects a bad zone; here the host's zone is the safe fallback


def when(ts: float | None, tz: str | None = None) -> str:
    """``2024-01-15 09:00:00 CET``: in zone ``tz`` (IANA name) or the host's, always naming the zone."""
    if ts is None:
        return "-"
    from datetime import datetime

    zone = _zone(tz)
    moment = datetime.fromtimestamp(ts, zone) if zone is not None else datetime.fromtimestamp(ts).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()


def stamp(ts: float | None, tz: str | None = None) -> str:
    """A time for chat text: each platform shows it in the reader's zone; plain text as :func:`when` in ``tz``."""
    if ts is None:
        return "-"
    return f"{STAMP_OPEN}{int(ts)}|{when(ts, tz)}{STAMP_CLOSE}"


def map_stamps(text: str, plain: Callable[[str], str], token: Callable[[str, str], str]) -> str:
    """``text`` with ``plain`` applied between stamps and each stamp replaced by ``token(epoch, fallback)``:
    the one walk over stamp markers every renderer shares."""
    if STAMP_OPEN not in text:
        return plain(text)
    out: list[str] = []
    pos = 0
    for m in STAMP.finditer(text):
        out.append(plain(text[pos : m.start()]))
        out.append(token(m.group(1), m.group(2)))
        pos = m.end()
    out.append(plain(text[pos:]))
    return "".join(out)


def plain_stamps(text: str) -> str:
    """Text with every :func:`stamp` replaced by its written-out fallback (terminal, notifications)."""
    return STAMP.sub(lambda m: m.group(2), text) if STAMP_OPEN in text else text


def exit_text(exit_code: int | None, signal: str | None) -> str:
    if signal:
        return f"killed by {signal}"
    if exit_code is None:
        return "unknown"
    return f"exit {exit_code}"
