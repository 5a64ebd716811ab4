"""Hourly rollup of ``samples`` so digests over long periods stay fast.

Why: a digest for 1000 programs over 30 days aggregates ~4 million sample
rows (per-minute buckets for the last day, 15-minute ones before); SQLite
needs seconds for that. ``sample_hours`` holds one row per program and hour
(720 per program for 30 days) and answers the same question in a fraction of
a second.

How it stays right without touching the code that writes samples:

* an hour is (re)computed from ``samples`` as a whole, with
  ``INSERT OR REPLACE``, so recomputing is always safe;
* the hours to recompute are those holding sample rows newer than a
  watermark (``rowid``), which also catches rows that thinning rewrote
  (thinning keeps sums and maxima, so the hour comes out the same);
* only complete hours are rolled; the current hour and the edges of a
  period are read from ``samples`` directly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.store.registry import Registry

HOUR = 3600.0
#: hours recomputed per statement, so a first roll of a big file does not hold the connection for seconds
CHUNK_HOURS = 24
_WATERMARK = "samples_rowid"


@dataclass
class Usage:
    """Sums over a period for one program; averages are derived."""

    n: int = 0
    cpu_sum: float = 0.0
    cpu_max: float = 0.0
    rss_sum: float = 0.0
    rss_max: int = 0
    up_n: int = 0

    def add(self, n: int, cpu_sum: float, cpu_max: float, rss_sum: float, rss_max: int, up_n: int) -> None:
        self.n += n
        self.cpu_sum += cpu_sum
        self.cpu_max = max(self.cpu_max, cpu_max)
        self.rss_sum += rss_sum
        self.rss_max = max(self.rss_max, rss_max)
        self.up_n += up_n

    @property
    def cpu_avg(self) -> float:
        return self.cpu_sum / self.n if self.n else 0.0

    @property
    def rss_avg(self) -> float:
        return self.rss_sum / self.n if self.n else 0.0

    @property
    def uptime(self) -> float | None:
        return self.up_n / self.n if self.n else None


def _hour(t: float) -> int:
    return int(t // HOUR)


class SampleRollup:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._lock = asyncio.Lock()

    async def _watermark(self) -> int:
        rows = await self.registry.fetch_all("SELECT value FROM rollup_state WHERE name=?", (_WATERMARK,))
        return int(rows[0][0]) if rows else 0

    async def roll(self, now: float) -> int:
        """Fold complete hours with new sample rows into ``sample_hours``; returns hours recomputed."""
        async with self._lock:
            mark = await self._watermark()
            top_rows = await self.registry.fetch_all("SELECT MAX(rowid) FROM samples")
            top = int(top_rows[0][0] or 0)
            if top <= mark:
                return 0
            dirty = [int(r[0]) for r in await self.registry.fetch_all(
                "SELECT DISTINCT CAST(at / 3600 AS INTEGER) FROM samples WHERE rowid > ? AND rowid <= ?",
                (mark, top))]
            current = _hour(now)
            done = sorted(h for h in dirty if h < current)
            for first, last in _runs(done, CHUNK_HOURS):
                await self.registry.execute(
                    "INSERT OR REPLACE INTO sample_hours(hour, program, n, cpu_sum, cpu_max, rss_sum, rss_max, up_n) "
                    "SELECT CAST(at / 3600 AS INTEGER) * 3600, program, SUM(n), SUM(cpu_avg * n), MAX(cpu_max), "
                    "SUM(rss_avg * n), MAX(rss_max), SUM(up_n) FROM samples WHERE at >= ? AND at < ? GROUP BY 1, 2",
                    (first * HOUR, (last + 1) * HOUR),
                )
                await asyncio.sleep(0)
            open_hours = [h for h in dirty if h >= current]
            if open_hours:  # rows of the unfinished hour must be looked at again next time
                rows = await self.registry.fetch_all(
                    "SELECT MIN(rowid) FROM samples WHERE rowid > ? AND rowid <= ? AND at >= ?",
                    (mark, top, min(open_hours) * HOUR))
                top = int(rows[0][0]) - 1 if rows and rows[0][0] is not None else top
            await self.registry.execute(
                "INSERT INTO rollup_state(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value=excluded.value", (_WATERMARK, top))
            await self.registry.execute(
                "DELETE FROM sample_hours WHERE hour < (SELECT COALESCE(MIN(at), 0) - 3600 FROM samples)")
            return len(done)

    async def usage(self, since: float, until: float, now: float) -> dict[str, Usage]:
        """Per program sums of samples whose bucket starts in [since, until)."""
        await self.roll(now)
        out: dict[str, Usage] = {}
        h0 = -(-since // HOUR) * HOUR              # first whole hour inside the period
        h1 = min(until, _hour(now) * HOUR) // HOUR * HOUR  # end of the last whole, rolled hour
        if h0 < h1:
            await self._add(out, "SELECT program, SUM(n), SUM(cpu_sum), MAX(cpu_max), SUM(rss_sum), MAX(rss_max), "
                                 "SUM(up_n) FROM sample_hours WHERE hour >= ? AND hour < ? GROUP BY program", h0, h1)
            edges = [(since, h0), (h1, until)]
        else:
            edges = [(since, until)]
        for lo, hi in edges:
            if lo < hi:
                await self._add(out, "SELECT program, SUM(n), SUM(cpu_avg * n), MAX(cpu_max), SUM(rss_avg * n), "
                                     "MAX(rss_max), SUM(up_n) FROM samples WHERE at >= ? AND at < ? GROUP BY program",
                                lo, hi)
        return out

    async def _add(self, out: dict[str, Usage], sql: str, lo: float, hi: float) -> None:
        for program, n, cpu_sum, cpu_max, rss_sum, rss_max, up_n in await self.registry.fetch_all(sql, (lo, hi)):
            if n:
                out.setdefault(program, Usage()).add(int(n), float(cpu_sum), float(cpu_max), float(rss_sum),
                                                     int(rss_max), int(up_n))


def _runs(hours: list[int], limit: int) -> list[tuple[int, int]]:
    """Sorted hours -> contiguous (first, last) runs of at most ``limit`` hours."""
    out: list[tuple[int, int]] = []
    for h in hours:
        if out and h == out[-1][1] + 1 and h - out[-1][0] < limit:
            out[-1] = (out[-1][0], h)
        else:
            out.append((h, h))
    return out
