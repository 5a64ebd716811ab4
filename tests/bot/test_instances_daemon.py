"""Instances through a real daemon and the CLI: `web:1` as a target, and a new daemon adopting each instance."""

from __future__ import annotations

import json

import pytest

from tests.conftest import sleeper
from tests.daemon_harness import Daemon, cli, status_json, write_config
from tests.helpers import alive, kill_tagged, unique_tag, wait_for

NAMES = ["web:0", "web:1", "web:2"]


def _toml(tag: str, cgroup: str) -> str:
    argv = ", ".join(f'"{a}"' if "\n" not in a else '"' + a.replace("\n", "\\n") + '"' for a in sleeper(tag))
    return (f'cgroup = "{cgroup}"\n[[program]]\nname = "web"\ninstances = 3\nmin_uptime = 0\n'
            f'command = [{argv}, "--slot={{instance}}"]\n')


def test_the_cli_stops_one_instance_by_its_name(tmp_path):
    tag = unique_tag("inst-cli")
    cfg = write_config(tmp_path, _toml(tag, "auto"))
    daemon = Daemon(cfg)
    try:
        daemon.wait_ready(programs=3)
        out = cli(cfg, "stop", "web:1")
        assert out.returncode == 0, out.stderr + out.stdout
        progs = status_json(cfg)
        assert [progs[n]["state"] for n in NAMES] == ["running", "stopped", "running"]
        out = cli(cfg, "status", "web", "--json")
        assert [p["name"] for p in json.loads(out.stdout)["data"]["programs"]] == NAMES
    finally:
        daemon.stop()
        kill_tagged(tag)


@pytest.mark.parametrize("cgroup", ["auto", "off"])
async def test_a_new_daemon_adopts_every_instance_without_its_registry(tmp_path, cgroup):
    """Found again by cgroup or by environment tag (whose program part now holds a `:`), not from the rows."""
    tag = unique_tag("inst-adopt")
    cfg = write_config(tmp_path, _toml(tag, cgroup))
    first = Daemon(cfg)
    try:
        pids = {n: p["pid"] for n, p in first.wait_ready(programs=3).items()}
        first.kill9()
        for f in (tmp_path / "state").glob("procbot.db*"):
            f.unlink()
        second = Daemon(cfg)
        try:
            again = second.wait_ready(programs=3)
            assert {n: again[n]["pid"] for n in NAMES} == pids
            assert all(again[n]["adopted"] for n in NAMES)
        finally:
            second.stop()
        await wait_for(lambda: not any(alive(p) for p in pids.values()))
    finally:
        if first.proc.poll() is None:
            first.kill9()
        kill_tagged(tag)
