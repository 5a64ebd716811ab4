"""Start-up reconciliation: what is alive (cgroup or tag) against what was recorded (case 5 and friends)."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from core.process.events import EventKind
from core.process.identity import CgroupIdentity
from core.process.tags import ENV_VAR, Tag, new_nonce
from tests.faults.identity_support import MODES, tagged_program
from tests.helpers import alive, kill_tagged, tagged_pids, unique_tag, wait_for


def _programs(tag: str, *names: str) -> list[dict[str, object]]:
    return [{"name": n, "command": tagged_program(f"{tag}-{n}"), "stop_timeout": 2} for n in names]


async def _events(q: asyncio.Queue, kind: EventKind) -> list:  # type: ignore[type-arg]
    out = []
    while not q.empty():
        ev = q.get_nowait()
        if ev.kind is kind:
            out.append(ev)
    return out


@pytest.mark.parametrize("mode", MODES)
async def test_a_program_removed_from_the_config_while_procbot_was_down_is_stopped_with_an_event(
        make_app, tmp_path, mode):
    tag, state = unique_tag("removed"), tmp_path / "state"
    try:
        app = await make_app(_programs(tag, "alpha", "beta"), state_dir=state, procbot={"cgroup": mode})
        alpha, beta = app.supervisor.state("alpha").pid, app.supervisor.state("beta").pid
        await app.stop(stop_programs=False)

        app2 = await make_app(_programs(tag, "alpha"), state_dir=state, procbot={"cgroup": mode}, start=False)
        q = app2.bus.subscribe()
        await app2.start()
        assert app2.supervisor.state("alpha").pid == alpha  # adopted, not duplicated
        await wait_for(lambda: not alive(beta), timeout=10)
        [ev] = await _events(q, EventKind.ORPHAN_STOPPED)
        assert ev.program == "beta" and "no longer configured" in ev.message
        assert tagged_pids(f"{tag}-beta") == []
    finally:
        kill_tagged(tag)


@pytest.mark.parametrize("mode", MODES)
async def test_orphans_leave_keeps_a_removed_programs_process_running(make_app, tmp_path, mode):
    tag, state = unique_tag("leave"), tmp_path / "state"
    try:
        app = await make_app(_programs(tag, "alpha", "beta"), state_dir=state, procbot={"cgroup": mode})
        beta = app.supervisor.state("beta").pid
        await app.stop(stop_programs=False)
        await make_app(_programs(tag, "alpha"), state_dir=state, procbot={"cgroup": mode, "orphans": "leave"})
        await asyncio.sleep(0.3)  # the stop, were there one, is sent at once
        assert alive(beta)
    finally:
        kill_tagged(tag)


@pytest.mark.parametrize("mode", MODES)
async def test_programs_are_adopted_not_duplicated_after_the_registry_file_is_deleted(make_app, tmp_path, mode):
    tag, state = unique_tag("noreg"), tmp_path / "state"
    try:
        app = await make_app(_programs(tag, "alpha", "beta"), state_dir=state, procbot={"cgroup": mode})
        pids = {n: app.supervisor.state(n).pid for n in ("alpha", "beta")}
        await app.stop(stop_programs=False)
        for f in state.glob("procbot.db*"):
            f.unlink()
        app2 = await make_app(_programs(tag, "alpha", "beta"), state_dir=state, procbot={"cgroup": mode})
        for name, pid in pids.items():
            st = app2.supervisor.state(name)
            assert st.pid == pid and st.adopted
            assert tagged_pids(f"{tag}-{name}") == [pid]
        [run] = [r for r in await app2.registry.open_runs() if r.program == "alpha"]
        assert run.pid == pids["alpha"] and run.adopted  # the run is recorded again
        await app2.stop(stop_programs=True)
        assert tagged_pids(tag) == []
    finally:
        kill_tagged(tag)


@pytest.mark.parametrize("mode", MODES)
async def test_a_second_copy_found_at_start_up_is_stopped_and_the_recorded_one_kept(make_app, tmp_path, mode):
    tag, state = unique_tag("twin"), tmp_path / "state"
    twin: subprocess.Popen[bytes] | None = None
    try:
        app = await make_app(_programs(tag, "alpha"), state_dir=state, procbot={"cgroup": mode})
        kept = app.supervisor.state("alpha").pid
        ident = app.supervisor.identity
        await app.stop(stop_programs=False)
        # a copy procbot spawned and never recorded: same program, another run nonce
        env = {**os.environ, ENV_VAR: Tag(ident.home, "alpha", new_nonce()).value()}
        fd = ident.tree.open_procs("alpha") if isinstance(ident, CgroupIdentity) else None
        twin = subprocess.Popen(tagged_program(f"{tag}-alpha"), env=env, start_new_session=True,
                                preexec_fn=(lambda: os.write(fd, b"0")) if fd is not None else None)
        if fd is not None:
            os.close(fd)
        app2 = await make_app(_programs(tag, "alpha"), state_dir=state, procbot={"cgroup": mode}, start=False)
        q = app2.bus.subscribe()
        await app2.start()
        assert app2.supervisor.state("alpha").pid == kept
        await wait_for(lambda: twin.poll() is not None, timeout=10)
        assert tagged_pids(f"{tag}-alpha") == [kept]
        [ev] = [e for e in await _events(q, EventKind.STOPPED) if e.by == "procbot (duplicate)"]
        assert str(twin.pid) in ev.message
    finally:
        if twin is not None and twin.poll() is None:
            twin.kill()
        kill_tagged(tag)
