"""The registry on a real full tmpfs: writes never fail, ids and reads keep working, the buffer is bounded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.actor import Actor, CommandContext
from core.store.registry import Registry
from tests.alert_fixtures import alert_program, alert_rig
from tests.conftest import sleeper
from tests.faults.registry_faults import fill, query, small_tmpfs
from tests.helpers import wait_for, wait_until_true

CLI = CommandContext(Actor("cli", "tester", local=True))


@pytest.fixture
def tmpfs(tmp_path: Path):
    with small_tmpfs(tmp_path / "state", size="4m") as path:
        yield path


async def full_registry(path: Path, **kwargs) -> tuple[Registry, Path]:
    reg = Registry(path / "r.db", retry_initial=0.05, retry_max=0.2, **kwargs)
    await reg.open()
    filler = fill(path)
    n = 0
    while reg.health.ok:  # the WAL may still hold free frames: write until the file system refuses
        await reg.add_events([(float(n), "warmup", "started", {"pad": "x" * 4000})])
        n += 1
        assert n < 10_000, "the registry never noticed the full disk"
    return reg, filler


async def test_ids_and_reads_keep_working_while_the_disk_is_full_and_land_in_the_file(tmpfs):
    reg, filler = await full_registry(tmpfs)
    run_id = await reg.run_started("web", 4242, 777, 1000.0, "tester")
    await reg.run_ended(run_id, 1010.0, 0, None, "exited")
    assert [(r.id, r.ended_at) for r in await reg.runs("web")] == [(run_id, 1010.0)]
    filler.unlink()
    await wait_for(lambda: reg.health.ok, timeout=10)
    assert query(tmpfs / "r.db", "SELECT id, ended_at FROM runs WHERE program='web'") == [(run_id, 1010.0)]
    await reg.close()


async def test_history_written_while_the_disk_is_full_reaches_the_file_in_order(tmpfs):
    reg, filler = await full_registry(tmpfs)
    for i in range(20):
        await reg.add_events([(5000.0 + i, "web", "crashed", {"n": i})])
    assert reg.health.pending >= 20
    filler.unlink()
    await wait_for(lambda: reg.health.ok, timeout=10)
    rows = query(tmpfs / "r.db", "SELECT at FROM events WHERE program='web' ORDER BY id")
    assert [r[0] for r in rows] == [5000.0 + i for i in range(20)]
    await reg.close()


async def test_history_past_the_buffer_bound_is_dropped_counted_and_reported(tmpfs):
    reg, filler = await full_registry(tmpfs, journal_limit=10)
    for i in range(30):
        await reg.add_events([(9000.0 + i, "web", "crashed", {})])
    health = reg.health
    assert health.pending <= 10 and health.dropped >= 20
    assert any("dropped" in n for n in reg.status_notes())
    filler.unlink()
    await wait_for(lambda: reg.health.ok, timeout=10)
    written = query(tmpfs / "r.db", "SELECT COUNT(*) FROM events WHERE program='web'")[0][0]
    assert written + reg.health.dropped >= 30 and written <= 10
    await reg.close()


async def test_a_lock_held_past_the_busy_timeout_does_not_block_a_restart(make_app, tmp_path):
    app = await make_app([{"name": "a", "command": sleeper("busy-a")}])
    app.registry.retry_initial = app.registry.retry_max = 0.1
    blocker = sqlite3.connect(app.registry.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        reply = await app.dispatcher.handle("restart a", CLI)
        assert reply.ok, reply.text
        assert not app.registry.health.ok and "locked" in app.registry.health.reason
        new_pid = app.supervisor.state("a").pid
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await wait_for(lambda: app.registry.health.ok, timeout=10)
    # the run row is written behind the program's back (core/store/run_log.py): it may land just after
    await wait_for(lambda: query(app.registry.path, "SELECT COUNT(*) FROM runs WHERE program='a' AND pid=? "
                                 "AND ended_at IS NULL", (new_pid,)) == [(1,)], timeout=10)


async def test_a_full_disk_posts_one_alert_that_history_is_not_recorded_and_a_recovery_in_its_thread(
        make_app, tmpfs):
    async with alert_rig(make_app, [alert_program("web")], state_dir=tmpfs) as rig:
        rig.app.registry.retry_initial = rig.app.registry.retry_max = 0.1
        filler = fill(tmpfs)

        async def degraded() -> bool:
            await rig.app.dispatcher.handle("status", CLI)  # each command writes an audit row
            return not rig.app.registry.health.ok

        await wait_until_true(degraded, timeout=20)
        await wait_for(lambda: len(rig.rec.of_kind("registry_degraded")) == 1, timeout=10)
        alert = rig.rec.of_kind("registry_degraded")[0]
        assert "history is not being recorded since" in alert.reply.text
        filler.unlink()
        await wait_for(lambda: len(rig.rec.of_kind("registry_recovered")) == 1, timeout=20)
        assert rig.rec.of_kind("registry_recovered")[0].thread_ref == alert.ref
        assert len(rig.rec.of_kind("registry_degraded")) == 1


async def test_watching_the_file_never_drops_sqlites_locks_so_other_readers_cannot_lose_its_writes(tmp_path):
    # closing any descriptor of a file drops all of a process's POSIX locks on it, SQLite's included:
    # another process may then take procbot's WAL for its own and checkpoint or delete it
    import asyncio
    import subprocess
    import sys

    reg = Registry(tmp_path / "r.db", check_every=0.01)
    await reg.open()
    reader = ("import sqlite3, sys, time\nfor _ in range(40):\n"
              "    c = sqlite3.connect(sys.argv[1]); c.execute('SELECT COUNT(*) FROM runs').fetchall(); c.close()\n"
              "    time.sleep(0.01)\n")
    proc = subprocess.Popen([sys.executable, "-c", reader, str(reg.path)])
    ids = []
    while proc.poll() is None:
        ids.append(await reg.run_started("web", len(ids), 1, 1.0, "tester"))
        await asyncio.sleep(0.01)
    assert proc.returncode == 0
    ids.append(await reg.run_started("web", len(ids), 1, 1.0, "tester"))
    assert query(reg.path, "SELECT COUNT(*) FROM runs")[0][0] == len(ids)
    await reg.close()
