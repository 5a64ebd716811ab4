"""Health checks on real programs: unhealthy and back, a restart, the check's task owned and gone on stop."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.actor import Actor, CommandContext
from core.process.events import EventKind
from core.process.states import FAILED_STATES, MOVES, State
from core.reply import Tone
from tests.conftest import sleeper
from tests.core.health.health_fixtures import http_program, loopback_port
from tests.core.process.test_state_moves import Recorder, moves_log  # noqa: F401  (a fixture)
from tests.helpers import reserved_port, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable
S = State


def health_tasks(name: str) -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == f"health:{name}" and not t.done()]


async def test_on_unhealthy_alert_keeps_the_pid_and_status_shows_unhealthy(make_app, tmp_path: Path):
    sick = tmp_path / "sick"
    with loopback_port() as port:
        app = await make_app([http_program("web", port, sick, on_unhealthy="alert")])
        st = app.supervisor.state("web")
        await wait_for(lambda: st.healthy is True)
        pid = st.pid
        sick.touch()
        await wait_for(lambda: st.state is S.UNHEALTHY)

        status = await app.dispatcher.handle("status", CLI)
        assert st.pid == pid and st.state.is_up and S.UNHEALTHY in FAILED_STATES
        assert status.table is not None and status.table.rows[0][:3] == ["web", "unhealthy", str(pid)]
        assert status.tone is Tone.WARN
        assert "GET /healthz returned 503 three times" in status.table.rows[0][-1]

        sick.unlink()
        await wait_for(lambda: st.state is S.RUNNING)
        assert st.pid == pid and st.restarts == 0


async def test_on_unhealthy_restart_restarts_it_once_counted_as_a_restart(make_app, moves_log, tmp_path: Path):  # noqa: F811
    sick = tmp_path / "sick"
    with loopback_port() as port:
        app = await make_app([http_program("web", port, sick, heal_on_start=True)], start=False)
        rec = Recorder(app, moves_log, "web")
        await app.start()
        st = app.supervisor.state("web")
        await wait_for(lambda: st.healthy is True)
        first = st.pid
        sick.touch()
        await wait_for(lambda: st.pid != first and st.healthy is True, timeout=20)

        assert st.state is S.RUNNING and st.restarts == 1
        moves = rec.moves()
        assert moves[2:] == [(S.RUNNING, S.UNHEALTHY), (S.UNHEALTHY, S.STOPPING), (S.STOPPING, S.STOPPED),
                             (S.STOPPED, S.STARTING), (S.STARTING, S.RUNNING)]
        assert rec.kinds().count(EventKind.UNHEALTHY) == 1
        rec.check()
        runs = await app.registry.runs("web", 10)
        assert len(runs) == 2


async def test_a_tcp_check_against_a_closed_port_goes_unhealthy(make_app):
    with reserved_port() as port:
        app = await make_app([{"name": "db", "command": sleeper("health-tcp"), "min_uptime": 0.1,
                               "on_unhealthy": "alert",
                               "health": {"tcp": f"127.0.0.1:{port}", "interval": 0.1, "failures": 2}}])
        st = app.supervisor.state("db")
        await wait_for(lambda: st.state is S.UNHEALTHY)
    assert st.message == f"unhealthy: tcp 127.0.0.1:{port} refused connection twice"
    assert st.healthy is False and not st.ready


async def test_a_command_check_goes_unhealthy_on_a_failing_exit_and_back_on_exit_0(make_app, tmp_path: Path):
    flag = tmp_path / "down"
    flag.touch()
    check = [PY, "-c", f"import os, sys; sys.exit(2 if os.path.exists({str(flag)!r}) else 0)"]
    app = await make_app([{"name": "db", "command": sleeper("health-cmd"), "min_uptime": 0.1,
                           "on_unhealthy": "alert", "health": {"command": check, "interval": 0.1}}])
    st = app.supervisor.state("db")
    await wait_for(lambda: st.state is S.UNHEALTHY)
    assert st.message == f"unhealthy: command {Path(PY).name} exited 2 three times"
    flag.unlink()
    await wait_for(lambda: st.state is S.RUNNING and st.healthy is True)


async def test_a_hanging_endpoint_is_bounded_by_the_timeout_and_goes_unhealthy(make_app, tmp_path: Path):
    with loopback_port() as port:
        prog = http_program("web", port, tmp_path / "sick", path="/hang", timeout=0.2, on_unhealthy="alert",
                            health={"start_period": 0})
        app = await make_app([prog])
        st = app.supervisor.state("web")
        await wait_for(lambda: st.state is S.UNHEALTHY, timeout=20)
    assert st.message == "unhealthy: GET /hang timed out after 0.2s three times"


async def test_the_health_check_is_cancelled_and_awaited_on_stop(make_app, tmp_path: Path):
    with loopback_port() as port:
        app = await make_app([http_program("web", port, tmp_path / "sick")])
        st = app.supervisor.state("web")
        await wait_for(lambda: st.healthy is True)
        runner = app.supervisor.runners["web"]
        assert runner.health is not None and runner.health.task is not None and health_tasks("web")

        assert (await app.dispatcher.handle("stop web", CLI)).ok

        assert runner.health.task is None and health_tasks("web") == []
        assert st.healthy is None


async def test_a_program_without_a_health_check_has_no_health_task_and_is_ready_when_running(make_app):
    app = await make_app([{"name": "plain", "command": sleeper("health-none"), "min_uptime": 0.1}])
    runner = app.supervisor.runners["plain"]
    await asyncio.wait_for(runner.wait_ready(), 10)
    assert runner.st.state is S.RUNNING and runner.health is None and health_tasks("plain") == []


async def test_a_program_with_a_health_check_is_ready_only_once_a_probe_passes(make_app, tmp_path: Path):
    sick = tmp_path / "sick"
    sick.touch()
    with loopback_port() as port:
        app = await make_app([http_program("web", port, sick, on_unhealthy="alert")])
        runner = app.supervisor.runners["web"]
        st = runner.st
        await wait_for(lambda: st.state is S.RUNNING and st.health_detail == "GET /healthz returned 503")
        assert not st.ready and st.healthy is None  # failing inside its start period: no verdict yet
        waiting = asyncio.ensure_future(runner.wait_ready())
        sick.unlink()
        await asyncio.wait_for(waiting, 10)
        assert st.ready and st.healthy is True


def test_the_moves_a_health_check_makes_are_declared():
    assert {S.UNHEALTHY} <= MOVES["managed"][S.RUNNING]
    assert {S.RUNNING, S.STOPPING} <= MOVES["managed"][S.UNHEALTHY]


async def test_info_shows_the_check_and_its_last_probe_without_the_urls_query(make_app, tmp_path: Path):
    with loopback_port() as port:
        prog = http_program("web", port, tmp_path / "sick", path="/healthz?token=s3cret")
        app = await make_app([prog])
        st = app.supervisor.state("web")
        await wait_for(lambda: st.healthy is True)
        info = await app.dispatcher.handle("info web", CLI)
    fields = {f.name: f.value for f in info.fields}
    assert fields["Health check"].startswith(f"GET /healthz on 127.0.0.1:{port} every 0.1s")
    assert fields["Health"] == "healthy; last probe: GET /healthz returned 200"
    assert "s3cret" not in str(info.to_dict())


async def test_command_probes_keep_their_exit_status_under_the_orphan_reaper(make_app, tmp_path: Path):
    """Tag mode makes procbot a subreaper that reaps stray children: probes stay in its session, so it leaves
    them to their own waiter and every run's exit 0 is seen (failures = 1: one lost status would show)."""
    runs = tmp_path / "runs"
    check = [PY, "-c", f"open({str(runs)!r}, 'a').write('x\\n')"]
    app = await make_app([{"name": "db", "command": sleeper("health-reaper"), "min_uptime": 0.1,
                           "on_unhealthy": "alert", "health": {"command": check, "interval": 0.1, "failures": 1}}],
                         procbot={"cgroup": "off"})
    st = app.supervisor.state("db")
    await wait_for(lambda: runs.exists() and len(runs.read_text().splitlines()) >= 20, timeout=30)
    assert st.state is S.RUNNING and st.healthy is True, st.message


async def test_procbot_exiting_without_stopping_programs_cancels_and_awaits_the_health_check(make_app, tmp_path: Path):
    with loopback_port() as port:
        app = await make_app([http_program("web", port, tmp_path / "sick")])
        st = app.supervisor.state("web")
        await wait_for(lambda: st.healthy is True)

        await app.stop(stop_programs=False)

        assert health_tasks("web") == [] and app.supervisor.runners["web"].health.task is None  # type: ignore[union-attr]
        assert st.pid is not None and st.state.is_up  # the program itself runs on


def _free_port_pair() -> int:
    """A base B such that loopback ports B0 and B1 (``f"{B}{instance}"``) are both free now."""
    import socket

    for base in range(2300, 6500, 7):
        socks = []
        try:
            for i in (0, 1):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", int(f"{base}{i}")))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free pair of loopback ports")


async def test_each_instance_is_checked_on_its_own_port(make_app, tmp_path: Path):
    base = _free_port_pair()
    program = http_program("web", 0, tmp_path / "sick{instance}", on_unhealthy="alert", instances=2)
    program["command"][3] = f"{base}{{instance}}"  # the server's port: web:0 on B0, web:1 on B1
    program["health"]["http"] = f"http://127.0.0.1:{base}{{instance}}/healthz"
    app = await make_app([program])
    web0, web1 = app.supervisor.state("web:0"), app.supervisor.state("web:1")
    await wait_for(lambda: web0.healthy is True and web1.healthy is True)
    (tmp_path / "sick1").touch()  # only web:1 answers 503
    await wait_for(lambda: web1.state is S.UNHEALTHY)
    assert web0.state is S.RUNNING and web0.healthy is True
