"""Resource samples: CPU and memory per program, per bucket, written by the scanner.

Recent samples are per-minute buckets; :meth:`Samples.thin_samples` folds
older ones into wider buckets, keeping sums and maxima so every average a
digest computes comes out the same. Long periods are read through the
hourly rollup (:mod:`core.store.rollup`), not from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import RegistryError
from core.store.db import RegistryConnection


@dataclass(frozen=True)
class SampleRow:
    program: str
    at: float
    span: float
    n: int
    cpu_avg: float
    cpu_max: float
    rss_avg: float
    rss_max: int
    up_n: int


class Samples(RegistryConnection):
    """Queries of the ``samples`` table (a part of :class:`core.store.registry.Registry`)."""

    async def add_samples(self, rows: list[SampleRow]) -> None:
        if rows:
            await self.execute_many(
                "INSERT INTO samples(program, at, span, n, cpu_avg, cpu_max, rss_avg, rss_max, up_n) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (r.program, r.at, r.span, r.n, r.cpu_avg, r.cpu_max, r.rss_avg, r.rss_max, r.up_n)
                    for r in rows
                ],
            )

    async def sample_summary(self, since: float, until: float) -> dict[str, dict[str, float]]:
        """Per program: weighted CPU/RSS average, peaks, and the fraction of samples that were up."""
        rows = await self.fetch_all(
            "SELECT program, SUM(n), SUM(cpu_avg*n), MAX(cpu_max), SUM(rss_avg*n), MAX(rss_max), SUM(up_n) "
            "FROM samples WHERE at >= ? AND at < ? GROUP BY program",
            (since, until),
        )
        out: dict[str, dict[str, float]] = {}
        for program, n, cpu_sum, cpu_max, rss_sum, rss_max, up in rows:
            if not n:
                continue
            out[program] = {
                "n": n,
                "cpu_avg": cpu_sum / n,
                "cpu_max": cpu_max,
                "rss_avg": rss_sum / n,
                "rss_max": rss_max,
                "up_fraction": up / n,
            }
        return out

    async def thin_samples(self, before: float, span: float) -> None:
        """Fold samples older than ``before`` into buckets of ``span`` seconds (keeps digests cheap)."""
        try:
            await self.transaction([
                ("CREATE TEMP TABLE IF NOT EXISTS thin AS SELECT * FROM samples WHERE 0", ()),
                ("DELETE FROM thin", ()),
                ("INSERT INTO thin SELECT program, CAST(at / ? AS INTEGER) * ?, ?, SUM(n), "
                 "SUM(cpu_avg*n)/SUM(n), MAX(cpu_max), SUM(rss_avg*n)/SUM(n), MAX(rss_max), SUM(up_n) "
                 "FROM samples WHERE at < ? AND span < ? GROUP BY program, CAST(at / ? AS INTEGER)",
                 (span, span, span, before, span, span)),
                ("DELETE FROM samples WHERE at < ? AND span < ?", (before, span)),
                ("INSERT INTO samples SELECT * FROM thin", ()),
            ])
        except RegistryError as e:
            raise RegistryError(f"Thinning samples failed: {e}") from e

    async def prune_samples(self, before: float) -> None:
        await self.execute("DELETE FROM samples WHERE at < ?", (before,))
