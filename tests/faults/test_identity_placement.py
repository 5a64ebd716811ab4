"""The placement record: start-up walks every process on the host only when one of ours may be outside its cgroup.

A child is moved into its cgroup just after the spawn (core/process/identity.py); a procbot killed in
between leaves it tagged but outside. The record says "pending" from before such a spawn until every
child is in place, and tags mode (no cgroups) leaves it "pending" for good, so the next procbot in
cgroup mode still looks for them by tag.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from core.process.identity import PLACEMENT_FILE, CgroupIdentity
from core.process.tags import ENV_VAR, Tag, new_nonce
from tests.faults.identity_support import cgroup_writable, tagged_program
from tests.helpers import kill_tagged, tagged_pids, unique_tag, wait_for

CGROUP = pytest.mark.skipif(not cgroup_writable(), reason="no writable cgroup v2 here")


def _record(state) -> str:  # type: ignore[no-untyped-def]
    try:
        return (state / PLACEMENT_FILE).read_text().strip()
    except FileNotFoundError:
        return "missing"


def _programs(tag: str, *names: str) -> list[dict[str, object]]:
    return [{"name": n, "command": tagged_program(f"{tag}-{n}"), "stop_timeout": 2} for n in names]


@CGROUP
async def test_the_record_is_clean_once_every_spawned_child_is_in_its_cgroup(make_app, tmp_path):
    tag, state = unique_tag("placed"), tmp_path / "state"
    try:
        app = await make_app(_programs(tag, "alpha", "beta"), state_dir=state)
        assert isinstance(app.supervisor.identity, CgroupIdentity)
        await wait_for(lambda: _record(state) == "clean", timeout=10)
        ident = app.supervisor.identity
        for name in ("alpha", "beta"):
            assert ident.tree.procs(name) == [app.supervisor.state(name).pid]
    finally:
        kill_tagged(tag)


@CGROUP
async def test_a_child_left_outside_its_cgroup_by_a_killed_procbot_is_adopted_not_duplicated(make_app, tmp_path):
    tag, state = unique_tag("unplaced"), tmp_path / "state"
    stray: subprocess.Popen[bytes] | None = None
    try:
        app = await make_app(_programs(tag, "alpha"), state_dir=state)
        ident = app.supervisor.identity
        assert isinstance(ident, CgroupIdentity)
        await app.stop(stop_programs=True)
        # what a procbot killed between the spawn and the move leaves: the record says pending, and a
        # tagged child runs outside the program's cgroup
        assert ident.placement.pending()
        env = {**os.environ, ENV_VAR: Tag(ident.home, "alpha", new_nonce()).value()}
        stray = subprocess.Popen(tagged_program(f"{tag}-alpha"), env=env, start_new_session=True)
        app2 = await make_app(_programs(tag, "alpha"), state_dir=state)
        assert app2.supervisor.state("alpha").pid == stray.pid
        assert tagged_pids(f"{tag}-alpha") == [stray.pid]
        assert app2.supervisor.identity.tree.procs("alpha") == [stray.pid]
        assert _record(state) == "clean"
    finally:
        if stray is not None and stray.poll() is None:
            stray.kill()
        kill_tagged(tag)


@CGROUP
async def test_programs_started_in_tags_mode_are_adopted_by_a_procbot_in_cgroup_mode(make_app, tmp_path):
    tag, state = unique_tag("modeswitch"), tmp_path / "state"
    try:
        app = await make_app(_programs(tag, "alpha"), state_dir=state, procbot={"cgroup": "off"})
        pid = app.supervisor.state("alpha").pid
        await app.stop(stop_programs=False)
        assert _record(state) == "pending"
        app2 = await make_app(_programs(tag, "alpha"), state_dir=state, procbot={"cgroup": "auto"})
        assert app2.supervisor.state("alpha").pid == pid
        assert tagged_pids(f"{tag}-alpha") == [pid]
    finally:
        kill_tagged(tag)
