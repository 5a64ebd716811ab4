"""SQL for ``silences``: one row per silence, ended (not deleted) when replaced or lifted.

The rules (what a silence covers, which are active) are in
:mod:`core.alerts.silences`; this module only reads and writes rows.
"""

from __future__ import annotations

from core.store.registry import Registry

#: (id, target, created_at, until, created_by, reason)
SilenceRow = tuple[int, str, float, float, str, str]


class SilenceStore:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def in_force(self, now: float) -> list[SilenceRow]:
        """Silences neither lifted nor expired at ``now``."""
        rows = await self.registry.fetch_all(
            "SELECT id, target, created_at, until, created_by, reason FROM silences "
            "WHERE ended_at IS NULL AND until > ?",
            (now,),
        )
        return [(int(i), str(t), float(c), float(u), str(b), str(r)) for i, t, c, u, b, r in rows]

    async def replace(self, target: str, now: float, until: float, by: str, reason: str) -> int:
        """End the silence on ``target`` (if any) and start a new one, in one transaction; the new id.

        One transaction: a failure between the two would leave two silences in force on one target.
        """
        _, sid = await self.registry.transaction([
            ("UPDATE silences SET ended_at=? WHERE target=? AND ended_at IS NULL", (now, target)),
            ("INSERT INTO silences(target, created_at, until, created_by, reason) VALUES (?,?,?,?,?)",
             (target, now, until, by, reason)),
        ])
        return sid

    async def end(self, target: str, now: float) -> None:
        """Lift the silence on ``target``."""
        await self.registry.execute(
            "UPDATE silences SET ended_at=? WHERE target=? AND ended_at IS NULL", (now, target)
        )
