"""A deleted, truncated or foreign registry file is noticed and re-created with the live state (real daemon)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.daemon_harness import Daemon, cli, status_json, write_config
from tests.faults.registry_faults import poll, programs_toml, query
from tests.helpers import count_tagged, kill_tagged, unique_tag


@pytest.fixture
def daemon(tmp_path: Path):
    tags = {"web": unique_tag("replweb"), "worker": unique_tag("replworker")}
    cfg = write_config(tmp_path, programs_toml(tags))
    d = Daemon(cfg)
    try:
        d.wait_ready(2)
        yield d, tags, tmp_path / "state"
    finally:
        d.stop()
        kill_tagged(*tags.values())


def open_runs(db: Path) -> dict[str, int]:
    return dict(query(db, "SELECT program, pid FROM runs WHERE ended_at IS NULL"))


def set_aside(state: Path) -> list[Path]:
    """Wait until procbot has moved the damaged file away (opening it with SQLite before that could
    checkpoint procbot's write-ahead log into it and change what is being tested)."""
    return poll(lambda: [p for p in state.glob("procbot.db.broken-*") if not p.name.endswith(("-wal", "-shm"))])


def recreated_with_live_state(db: Path) -> dict[str, int]:
    """Wait until ``db`` is an SQLite file again, holding an open run for both programs."""

    def check() -> dict[str, int]:
        runs = open_runs(db)
        return runs if set(runs) == {"web", "worker"} else {}

    return poll(check, timeout=30)


def crash_is_recorded(d: Daemon, db: Path, program: str) -> None:
    pid = status_json(d.cfg)[program]["pid"]
    os.kill(pid, signal.SIGKILL)
    poll(lambda: query(db, "SELECT COUNT(*) FROM runs WHERE program=? AND pid=? AND ended_at IS NOT NULL",
                       (program, pid))[0][0] == 1)
    poll(lambda: status_json(d.cfg)[program]["state"] == "running")
    out = cli(d.cfg, "history", program, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert pid in [r["pid"] for r in json.loads(out.stdout)["data"]["runs"]]


def test_a_deleted_registry_is_recreated_with_the_live_programs_and_records_the_next_crash(daemon):
    d, tags, state = daemon
    db = state / "procbot.db"
    live = open_runs(db)
    for name in ("procbot.db", "procbot.db-wal", "procbot.db-shm"):
        (state / name).unlink(missing_ok=True)
    runs = recreated_with_live_state(db)
    assert runs == live
    assert cli(d.cfg, "status").returncode == 0
    crash_is_recorded(d, db, "worker")
    assert count_tagged(tags["web"]) == 1 and count_tagged(tags["worker"]) == 1


def test_a_registry_truncated_while_running_is_set_aside_and_recreated(daemon):
    d, _tags, state = daemon
    db = state / "procbot.db"
    live = open_runs(db)
    os.truncate(db, 0)
    assert set_aside(state), "the damaged file is kept for inspection"
    runs = recreated_with_live_state(db)
    assert runs == live
    crash_is_recorded(d, db, "web")


def test_a_registry_replaced_by_another_file_is_recreated_and_the_other_file_kept(daemon):
    _d, _tags, state = daemon
    db = state / "procbot.db"
    live = open_runs(db)
    other = state / "other.txt"
    other.write_text("not a database\n" * 100)
    os.replace(other, db)
    kept = set_aside(state)
    assert [p.read_bytes()[:14] for p in kept] == [b"not a database"]
    runs = recreated_with_live_state(db)
    assert runs == live


def test_a_truncated_registry_at_start_up_is_set_aside_and_procbot_starts(tmp_path):
    tags = {"web": unique_tag("truncweb"), "worker": unique_tag("truncworker")}
    cfg = write_config(tmp_path, programs_toml(tags))
    d = Daemon(cfg)
    try:
        d.wait_ready(2)
        assert d.stop() == 0
        db = tmp_path / "state" / "procbot.db"
        os.truncate(db, os.path.getsize(db) // 2 + 100)
        d = Daemon(cfg)
        d.wait_ready(2)
        assert list((tmp_path / "state").glob("procbot.db.broken-*"))
        assert set(open_runs(db)) == {"web", "worker"}
        out = cli(cfg, "status")
        assert out.returncode == 0 and "re-created" in out.stdout
    finally:
        d.stop()
        kill_tagged(*tags.values())
