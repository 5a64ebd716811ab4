"""procbot dying does not kill or forget its programs: a new daemon adopts them."""

from __future__ import annotations

import dataclasses
import os
import signal

from core.process.events import EventKind
from core.process.states import State
from tests.conftest import sleeper
from tests.daemon_harness import Daemon, status_json, write_config
from tests.helpers import alive, count_tagged, kill_tagged, unique_tag, wait_for


def _programs_toml(tag: str) -> str:
    out = ""
    for name in ("alpha", "beta"):
        cmd = ", ".join(f'"{a}"' if "\n" not in a else repr(a).replace("'", '"') for a in sleeper(f"{tag}-{name}"))
        out += f'\n[[program]]\nname = "{name}"\ncommand = [{cmd}]\nmin_uptime = 0\n'
    return out


async def test_kill_9_of_the_daemon_leaves_programs_running_and_a_new_daemon_adopts_them(tmp_path, make_app):
    tag = unique_tag("adopt")
    cfg = write_config(tmp_path, _programs_toml(tag))
    daemon = Daemon(cfg)
    try:
        await _adopted_after_kill_9(daemon, cfg, tag, make_app)
    except BaseException:
        if daemon.proc.poll() is None:
            daemon.kill9()
        kill_tagged(tag)  # orphans of the killed daemon: never beyond a failed test (on success the App stops them)
        raise


async def _adopted_after_kill_9(daemon: Daemon, cfg, tag: str, make_app) -> None:  # type: ignore[no-untyped-def]
    before = daemon.wait_ready(programs=2)
    daemon.kill9()
    pids = {name: before[name]["pid"] for name in ("alpha", "beta")}
    assert all(alive(p) for p in pids.values())

    from bot.config_loader import load_config

    config = load_config(cfg)
    app = await make_app(
        [dataclasses.asdict(p) for p in config.program], state_dir=config.state_dir
    )
    for name, pid in pids.items():
        st = app.supervisor.state(name)
        assert st.pid == pid
        assert st.adopted
        assert st.state is State.RUNNING
    assert count_tagged(f"{tag}-alpha") == 1
    assert count_tagged(f"{tag}-beta") == 1

    q = app.bus.subscribe()
    os.kill(pids["alpha"], signal.SIGKILL)
    alpha = app.supervisor.state("alpha")
    await wait_for(lambda: alpha.pid not in (None, pids["alpha"]) and alpha.state.is_up, timeout=10)
    crashed = []
    while not q.empty():
        ev = q.get_nowait()
        if ev.kind is EventKind.CRASHED:
            crashed.append(ev)
    assert len(crashed) == 1
    assert crashed[0].pid == pids["alpha"]
    assert "unknown" in crashed[0].message  # not our child: its exit status cannot be read
    assert count_tagged(f"{tag}-alpha") == 1
    assert app.supervisor.state("beta").pid == pids["beta"] and alive(pids["beta"])


async def test_a_program_that_died_while_procbot_was_down_is_started_again(tmp_path, make_app):
    state = tmp_path / "state"
    app = await make_app([{"name": "alpha", "command": sleeper("gone-alpha")}], state_dir=state)
    old = app.supervisor.state("alpha").pid
    await app.stop(stop_programs=False)
    os.killpg(old, signal.SIGKILL)
    await wait_for(lambda: not alive(old))
    app2 = await make_app([{"name": "alpha", "command": sleeper("gone-alpha")}], state_dir=state, start=False)
    q = app2.bus.subscribe()
    await app2.start()
    st = app2.supervisor.state("alpha")
    assert st.pid != old and alive(st.pid)
    runs = await app2.registry.runs("alpha")
    assert runs[1].reason == "lost while procbot was down"
    first = q.get_nowait()
    assert first.kind is EventKind.CRASHED and first.pid == old
    assert "while procbot was down" in first.message


async def test_sigterm_stops_the_daemon_and_its_programs(tmp_path):
    tag = unique_tag("term")
    cfg = write_config(tmp_path, _programs_toml(tag))
    daemon = Daemon(cfg)
    try:
        progs = daemon.wait_ready(programs=2)
        rc = daemon.stop()
        assert rc == 0
        for p in progs.values():
            await wait_for(lambda p=p: not alive(p["pid"]), timeout=5)
        assert count_tagged(tag) == 0
        assert not (cfg.parent / "state" / "procbot.sock").exists()
    finally:
        daemon.stop()
        kill_tagged(tag)  # nothing, unless the daemon failed to stop them


async def test_a_second_daemon_adopts_the_programs_of_a_kill_9ed_one_and_restarts_them_when_killed(tmp_path):
    tag = unique_tag("readopt")
    cfg = write_config(tmp_path, _programs_toml(tag))
    daemons = [Daemon(cfg)]
    try:
        before = daemons[0].wait_ready(programs=2)
        daemons[0].kill9()

        daemons.append(Daemon(cfg))
        after = daemons[1].wait_ready(programs=2)
        assert {n: after[n]["pid"] for n in ("alpha", "beta")} == {n: before[n]["pid"] for n in ("alpha", "beta")}
        assert after["alpha"]["adopted"] and after["beta"]["adopted"]
        assert count_tagged(f"{tag}-alpha") == 1 and count_tagged(f"{tag}-beta") == 1

        old = after["alpha"]["pid"]
        os.kill(old, signal.SIGKILL)
        await wait_for(lambda: status_json(cfg)["alpha"]["pid"] not in (None, old), timeout=20, interval=0.1)
        now = status_json(cfg)
        assert alive(now["alpha"]["pid"]) and not alive(old)
        assert now["beta"]["pid"] == before["beta"]["pid"]
        assert count_tagged(f"{tag}-alpha") == 1 and count_tagged(f"{tag}-beta") == 1
        assert daemons[1].stop() == 0
    finally:
        for d in daemons:
            if d.proc.poll() is None:
                d.kill9()
        kill_tagged(tag)  # the killed daemon's orphans, if the second daemon failed to take them over
