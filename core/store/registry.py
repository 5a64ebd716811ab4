"""The SQLite registry: one object that every caller holds, made of one part per table family.

* :mod:`core.store.db`: the connection, the write path that degrades instead
  of failing, migrations (and its note on durability);
* :mod:`core.store.history`: runs, events, audit;
* :mod:`core.store.samples`: resource samples;
* here: the ``programs`` mirror and pruning that spans families.

The config stays the source of truth for program specs, which are mirrored
into ``programs`` so history queries can join on them. Tables with their own
rules have their own store beside these, over the same connection:
:mod:`~core.store.outbox`, :mod:`~core.store.incidents`,
:mod:`~core.store.silences`, :mod:`~core.store.digest_runs`,
:mod:`~core.store.rollup`. No SQL lives outside ``core/store/``.
"""

from __future__ import annotations

from core.store.health import RegistryHealth
from core.store.history import AuditRow, History, RunEnd, RunRow, RunStart
from core.store.samples import SampleRow, Samples
from core.store.standin import LiveRun, LiveState, Statement

__all__ = ["AuditRow", "LiveRun", "LiveState", "Registry", "RegistryHealth", "RunEnd", "RunRow", "RunStart",
           "SampleRow"]


class Registry(History, Samples):
    """Every table family's queries over one connection (see the module docstring for where each lives)."""

    async def sync_programs(self, specs: list[tuple[str, str, str, str | None]], now: float) -> None:
        """Mirror config specs: (name, kind, spec_json, group). Names no longer configured are removed.

        One transaction: a failure halfway would leave removed programs beside changed ones.
        """
        names = [s[0] for s in specs]
        marks = ",".join("?" * len(names)) or "''"
        await self.transaction([
            Statement("INSERT INTO programs(name, kind, spec_json, grp, updated_at) VALUES (?,?,?,?,?) "
                      "ON CONFLICT(name) DO UPDATE SET kind=excluded.kind, spec_json=excluded.spec_json, "
                      "grp=excluded.grp, updated_at=excluded.updated_at",
                      [(n, k, j, g, now) for n, k, j, g in specs], many=True),
            (f"DELETE FROM programs WHERE name NOT IN ({marks})", names),
        ])

    async def prune(self, before: float) -> None:
        """Forget samples and events older than ``before`` (runs and audit: :mod:`core.store.retention`)."""
        await self.prune_samples(before)
        await self.prune_events(before)
