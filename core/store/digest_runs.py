"""SQL for ``digest_runs``: one row per digest name and due time, written once the digest is queued.

It is how a due time is posted once (see :mod:`bot.scheduler`), how a
digest knows where the previous one of its name ended, and, with the event
log, whether procbot was running before a missed due time.
"""

from __future__ import annotations

from core.store.registry import Registry


class DigestRuns:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def history_before(self, at: float) -> bool:
        """Whether procbot recorded anything (an event or a digest) before ``at``: a fresh install has not."""
        rows = await self.registry.fetch_all(
            "SELECT EXISTS(SELECT 1 FROM events WHERE at < ?) OR EXISTS(SELECT 1 FROM digest_runs WHERE due_at < ?)",
            (at, at))
        return bool(rows and rows[0][0])

    async def posted(self, name: str, due: float) -> bool:
        return bool(await self.registry.fetch_all(
            "SELECT 1 FROM digest_runs WHERE name=? AND due_at=?", (name, due)))

    async def record(self, name: str, due: float, ran_at: float) -> None:
        await self.registry.execute("INSERT OR IGNORE INTO digest_runs(name, due_at, ran_at) VALUES (?,?,?)",
                                    (name, due, ran_at))

    async def previous_due(self, name: str, before: float) -> float | None:
        """The latest due time of ``name`` posted before ``before``."""
        rows = await self.registry.fetch_all("SELECT MAX(due_at) FROM digest_runs WHERE name=? AND due_at < ?",
                                             (name, before))
        return float(rows[0][0]) if rows and rows[0][0] is not None else None
