"""How long history is kept: runs and audit rows, by age and by count.

What a reader needs is never pruned: open runs (they make a live child
known), the newest ``keep_runs_per_program`` runs of each program
(``history``), and every run the digest window can read. A digest reads
runs only for the span samples and events still cover, which is
``sample_retention_days``; so runs are kept at least that long whatever
``keep_runs_days`` says.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.spec import ProcbotSettings
from core.store.registry import Registry

DAY = 86400.0


@dataclass(frozen=True)
class Pruned:
    runs: int
    audit: int


async def prune_history(registry: Registry, settings: ProcbotSettings, now: float) -> Pruned:
    keep_runs = max(settings.keep_runs_days, settings.sample_retention_days) * DAY
    runs = await registry.prune_runs(now - keep_runs, settings.keep_runs_per_program)
    audit = await registry.prune_audit(now - settings.keep_audit_days * DAY, settings.keep_audit_rows)
    return Pruned(runs, audit)
