"""Runs and audit rows are pruned by age and count without losing what history and digests read."""

from __future__ import annotations

from pathlib import Path

from bot.config_loader import config_from_dict
from core.store.registry import Registry
from core.store.retention import DAY, prune_history

NOW = 1_800_000_000.0


def settings(tmp_path: Path, **keys: int):
    return config_from_dict({"procbot": {"state_dir": str(tmp_path), **keys}}, str(tmp_path / "p.toml")).procbot


async def registry(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "r.db")
    await reg.open()
    return reg


async def ended_run(reg: Registry, program: str, at: float) -> int:
    rid = await reg.run_started(program, 100, 1, at, "tester")
    await reg.run_ended(rid, at + 1, 0, None, "exited")
    return rid


async def test_old_runs_are_pruned_but_open_runs_and_the_newest_per_program_stay(tmp_path):
    reg = await registry(tmp_path)
    still_open = await reg.run_started("web", 1, 1, NOW - 400 * DAY, "tester")
    web_old = [await ended_run(reg, "web", NOW - (300 - i) * DAY) for i in range(10)]
    db_old = [await ended_run(reg, "db", NOW - 200 * DAY)]
    recent = await ended_run(reg, "web", NOW - DAY)
    pruned = await prune_history(reg, settings(tmp_path, keep_runs_days=90, keep_runs_per_program=3), NOW)
    kept = {r.id for p in ("web", "db") for r in await reg.runs(p, 100)}
    assert kept == {still_open, *web_old[-2:], recent, *db_old}
    assert pruned.runs == 8
    await reg.close()


async def test_runs_the_digest_window_can_read_are_kept_even_with_a_shorter_keep_runs_days(tmp_path):
    reg = await registry(tmp_path)
    in_window = [await ended_run(reg, "web", NOW - 20 * DAY - i) for i in range(5)]
    conf = settings(tmp_path, keep_runs_days=7, keep_runs_per_program=1, sample_retention_days=30)
    await prune_history(reg, conf, NOW)
    assert {r.id for r in await reg.runs("web", 100)} == set(in_window)
    await reg.close()


async def test_audit_rows_are_pruned_by_age_and_by_count(tmp_path):
    reg = await registry(tmp_path)
    for i in range(5):
        await reg.audit(NOW - 200 * DAY + i, "cli", "u", "u", None, f"old {i}", "ok")
    for i in range(150):
        await reg.audit(NOW - 1000 + i, "cli", "u", "u", None, f"new {i}", "ok")
    pruned = await prune_history(reg, settings(tmp_path, keep_audit_days=90, keep_audit_rows=100), NOW)
    rows = await reg.audit_rows(1000)
    assert [r.command for r in rows] == [f"new {i}" for i in range(149, 49, -1)]
    assert pruned.audit == 55
    await reg.close()


async def test_the_running_daemons_maintenance_task_prunes_the_audit_trail(make_app, monkeypatch):
    """prune_history is not only a function: the daemon's hourly maintenance runs it (here every 50 ms)."""
    import bot.app
    from tests.helpers import wait_until_true

    monkeypatch.setattr(bot.app, "MAINTENANCE_EVERY", 0.05)
    app = await make_app([], start=False, procbot={"keep_audit_days": 90, "keep_audit_rows": 100})
    now = app.clock.time()
    for i in range(5):
        await app.registry.audit(now - 200 * DAY + i, "cli", "u", "u", None, f"old {i}", "ok")
    for i in range(150):
        await app.registry.audit(now - 1000 + i, "cli", "u", "u", None, f"new {i}", "ok")
    await app.start()

    async def pruned() -> bool:
        return len(await app.registry.audit_rows(1000)) == 100

    await wait_until_true(pruned, timeout=10)
    assert [r.command for r in await app.registry.audit_rows(1000)][-1] == "new 50"
