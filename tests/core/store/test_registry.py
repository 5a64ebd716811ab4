"""The SQLite registry: WAL, forward migrations, history that survives a restart."""

from __future__ import annotations

import sqlite3

import pytest

from core.errors import RegistryError
from core.store.history import open_runs_in
from core.store.registry import Registry, SampleRow
from core.store.schema import MIGRATIONS


async def test_a_new_file_is_migrated_to_the_latest_schema_in_wal_mode(tmp_path):
    reg = Registry(tmp_path / "r.db")
    await reg.open()
    assert await reg.schema_version() == len(MIGRATIONS)
    rows = await reg.fetch_all("PRAGMA journal_mode")
    assert rows[0][0] == "wal"
    await reg.close()


async def test_a_file_from_a_newer_procbot_is_refused(tmp_path):
    path = tmp_path / "r.db"
    reg = Registry(path)
    await reg.open()
    await reg.execute("UPDATE schema_version SET version = 999")
    await reg.close()
    with pytest.raises(RegistryError, match="newer procbot"):
        await Registry(path).open()


async def test_runs_survive_reopening(tmp_path):
    path = tmp_path / "r.db"
    reg = Registry(path)
    await reg.open()
    rid = await reg.run_started("web", 4242, 777, 1000.0, "tester")
    await reg.close()
    reg = Registry(path)
    await reg.open()
    [run] = await reg.open_runs()
    assert (run.id, run.pid, run.start_ticks, run.started_by) == (rid, 4242, 777, "tester")
    await reg.run_ended(rid, 1010.0, None, "SIGKILL", "crashed")
    assert await reg.open_runs() == []
    await reg.close()


async def test_thinning_folds_old_samples_and_keeps_the_averages(tmp_path):
    reg = Registry(tmp_path / "r.db")
    await reg.open()
    rows = [SampleRow("web", 60.0 * i, 60.0, 10, float(i % 2) * 10, 50.0, 100.0, 200, 10) for i in range(30)]
    await reg.add_samples(rows)
    before = await reg.sample_summary(0, 1e9)
    await reg.thin_samples(before=1e9, span=900.0)
    after = await reg.sample_summary(0, 1e9)
    count = await reg.fetch_all("SELECT COUNT(*) FROM samples")
    assert count[0][0] == 2
    assert after["web"]["cpu_avg"] == pytest.approx(before["web"]["cpu_avg"])
    assert after["web"]["up_fraction"] == 1.0
    await reg.close()


def test_sqlite_file_is_usable_by_other_tools(tmp_path):
    import asyncio

    async def make():
        reg = Registry(tmp_path / "r.db")
        await reg.open()
        await reg.audit(1.0, "slack", "U1", "", "C1", "status", "ok")
        await reg.close()

    asyncio.run(make())
    with sqlite3.connect(tmp_path / "r.db") as db:
        assert db.execute("SELECT command FROM audit").fetchone()[0] == "status"


async def test_a_program_mirror_that_fails_halfway_leaves_the_mirror_as_it_was(tmp_path):
    reg = Registry(tmp_path / "r.db")
    await reg.open()
    await reg.sync_programs([("web", "managed", "{}", None), ("old", "managed", "{}", None)], 1.0)
    await reg.execute("CREATE TRIGGER keep_programs BEFORE DELETE ON programs "
                      "BEGIN SELECT RAISE(ABORT, 'injected: removing a program fails'); END")

    with pytest.raises(RegistryError, match="injected"):
        await reg.sync_programs([("web", "managed", '{"changed": 1}', "front"), ("new", "managed", "{}", None)], 2.0)

    rows = await reg.fetch_all("SELECT name, spec_json, grp FROM programs ORDER BY name")
    assert rows == [("old", "{}", None), ("web", "{}", None)]
    await reg.close()


async def test_a_tool_outside_the_daemon_reads_the_open_runs_from_the_file(tmp_path):
    path = tmp_path / "r.db"
    reg = Registry(path)
    await reg.open()
    ended = await reg.run_started("web", 4241, 776, 1000.0, "tester")
    await reg.run_ended(ended, 1005.0, 0, None, "exited")
    await reg.run_started("web", 4242, 777, 1010.0, "tester")
    await reg.close()

    assert open_runs_in(path) == [(4242, 777)]
    assert open_runs_in(tmp_path / "missing.db") == []
