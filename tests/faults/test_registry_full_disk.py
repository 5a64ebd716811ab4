"""A full or unwritable registry degrades procbot, never stops it: real daemon, real tmpfs, chattr +i."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.daemon_harness import Daemon, cli, status_json, write_config
from tests.faults.registry_faults import chattr, fill, poll, programs_toml, query, small_tmpfs
from tests.helpers import count_tagged, kill_tagged, tagged_pids, unique_tag

NOT_RECORDED = "history is not being recorded"


@pytest.fixture
def daemon_on_tmpfs(tmp_path: Path):
    """A daemon with programs web and worker, its state dir on an 8 MiB tmpfs; yields (daemon, tags, state)."""
    tags = {"web": unique_tag("fullweb"), "worker": unique_tag("fullworker")}
    body = programs_toml(tags)
    with small_tmpfs(tmp_path / "state") as state:
        cfg = write_config(tmp_path, body)
        d = Daemon(cfg)
        try:
            d.wait_ready(2)
            yield d, tags, state
        finally:
            for p in state.glob("filler*"):
                p.unlink()
            chattr("-i", state)
            d.stop()
            kill_tagged(*tags.values())


def degraded_status(cfg: Path) -> str:
    """Run ``status`` until it reports that history is not recorded (writes need to hit the fault first)."""

    def check() -> str:
        # local read-only calls are not audited, so ask for something that is (refused: no such program)
        cli(cfg, "stop", "no-such-program")
        out = cli(cfg, "status")
        assert out.returncode == 0, f"status exited {out.returncode}: {out.stderr}{out.stdout}"
        return out.stdout if NOT_RECORDED in out.stdout else ""

    return poll(check, timeout=30)


def test_status_answers_from_memory_and_says_history_is_not_recorded_on_a_full_disk(daemon_on_tmpfs):
    d, _tags, state = daemon_on_tmpfs
    fill(state)
    text = degraded_status(d.cfg)
    assert "web" in text and "worker" in text
    progs = status_json(d.cfg)
    assert progs["web"]["state"] == "running" and progs["worker"]["state"] == "running"


def test_restart_works_on_a_full_disk_and_is_recorded_when_space_returns(daemon_on_tmpfs):
    d, tags, state = daemon_on_tmpfs
    old = tagged_pids(tags["web"])
    filler = fill(state)
    degraded_status(d.cfg)
    out = cli(d.cfg, "restart", "web")
    assert out.returncode == 0, out.stdout + out.stderr
    new = poll(lambda: status_json(d.cfg)["web"]["pid"] if status_json(d.cfg)["web"]["state"] == "running" else 0)
    assert new not in old and count_tagged(tags["web"]) == 1

    filler.unlink()
    poll(lambda: NOT_RECORDED not in cli(d.cfg, "status").stdout, timeout=30)
    db = state / "procbot.db"
    assert query(db, "SELECT COUNT(*) FROM runs WHERE program='web' AND pid=? AND ended_at IS NULL", (new,)) == [(1,)]
    assert query(db, "SELECT COUNT(*) FROM audit WHERE command='restart web'")[0][0] == 1
    progs = status_json(d.cfg)
    assert {p["state"] for p in progs.values()} == {"running"}
    assert count_tagged(tags["web"]) == 1 and count_tagged(tags["worker"]) == 1


def test_an_immutable_registry_at_start_up_degrades_and_is_written_once_writable(daemon_on_tmpfs):
    # Linux checks the immutable flag when a file is opened, so procbot meets it when it (re)opens the registry
    d, tags, state = daemon_on_tmpfs
    assert d.stop() == 0
    chattr("+i", state)
    d.__init__(d.cfg)  # the same daemon object, so the fixture stops this one
    d.wait_ready(2)
    degraded_status(d.cfg)
    worker = status_json(d.cfg)["worker"]["pid"]
    out = cli(d.cfg, "restart", "worker")
    assert out.returncode == 0, out.stdout + out.stderr
    poll(lambda: status_json(d.cfg)["worker"]["pid"] not in (None, worker)
         and status_json(d.cfg)["worker"]["state"] == "running")
    new = status_json(d.cfg)["worker"]["pid"]

    chattr("-i", state)
    poll(lambda: NOT_RECORDED not in cli(d.cfg, "status").stdout, timeout=30)
    db = state / "procbot.db"
    assert query(db, "SELECT ended_at IS NOT NULL FROM runs WHERE program='worker' AND pid=?", (worker,)) == [(1,)]
    assert query(db, "SELECT COUNT(*) FROM runs WHERE program='worker' AND pid=? AND ended_at IS NULL",
                 (new,)) == [(1,)]
    assert count_tagged(tags["worker"]) == 1 and count_tagged(tags["web"]) == 1
