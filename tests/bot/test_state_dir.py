"""The state directory: created 0700 when new, never re-moded, refused when others can write it (issue 7 case 10)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tests.daemon_harness import ROOT, Daemon, cli, write_config


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_briefly(cfg) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", "run", "-c", str(cfg)], capture_output=True, text=True,
                          cwd=ROOT, timeout=30)


def test_a_new_state_directory_is_created_0700(tmp_path):
    cfg = write_config(tmp_path, "")
    d = Daemon(cfg)
    try:
        d.wait_ready(programs=0)
    finally:
        d.stop()
    assert mode(tmp_path / "state") == 0o700


def test_an_existing_state_directorys_mode_is_left_alone(tmp_path):
    cfg = write_config(tmp_path, "")
    (tmp_path / "state").mkdir(mode=0o755)
    os.chmod(tmp_path / "state", 0o755)
    d = Daemon(cfg)
    try:
        d.wait_ready(programs=0)
        assert mode(tmp_path / "state") == 0o755
    finally:
        d.stop()


@pytest.mark.parametrize("unsafe", [0o775, 0o757, 0o1777])
def test_a_group_or_world_writable_state_directory_refuses_to_start(tmp_path, unsafe):
    cfg = write_config(tmp_path, "")
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, unsafe)
    out = run_briefly(cfg)
    assert out.returncode == 2
    assert "procbot.state_dir" in out.stderr and "writable" in out.stderr and str(state) in out.stderr
    assert "Traceback" not in out.stderr
    assert mode(state) == unsafe  # refused, not "fixed"
    assert not (state / "procbot.db").exists()


def test_check_config_reports_a_writable_state_directory(tmp_path):
    cfg = write_config(tmp_path, "")
    (tmp_path / "state").mkdir()
    os.chmod(tmp_path / "state", 0o777)
    out = cli(cfg, "check-config")
    assert out.returncode == 2
    assert "procbot.state_dir" in out.stderr and "writable" in out.stderr
