"""Real programs through start, stop, crash, backoff and give-up: the moves they make and the events on the bus.

Every move is logged by ``change_state``; the tests read those records, so they see each move the
runner makes (not only the ones that publish) and check it against the declared table.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from core.actor import Actor, CommandContext
from core.process.events import MOVE_EVENTS, EventKind
from core.process.states import MOVES, State
from tests.conftest import sleeper
from tests.helpers import wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable
S = State
Move = tuple[State, State]


class Recorder:
    """The moves (from change_state's records) and the events (from the bus) of one program."""

    def __init__(self, app: Any, caplog: pytest.LogCaptureFixture, name: str) -> None:
        self.caplog, self.name = caplog, name
        self.q = app.bus.subscribe()
        self.events: list[EventKind] = []

    def moves(self) -> list[Move]:
        return [(State(r.args[2]), State(r.args[3])) for r in self.caplog.records  # type: ignore[index]
                if r.name == "core.process.events" and r.msg.startswith("state move") and r.args[1] == self.name]

    def kinds(self) -> list[EventKind]:
        while not self.q.empty():
            ev = self.q.get_nowait()
            if ev.program == self.name:
                self.events.append(ev.kind)
        return self.events

    def check(self, kind: str = "managed") -> None:
        """Every move was allowed, and the bus carried exactly the events the moves derive."""
        moves = self.moves()
        assert all(new in MOVES[kind][old] for old, new in moves), moves
        assert not [r for r in self.caplog.records if r.levelno >= logging.ERROR and "illegal" in r.getMessage()]
        derived = [MOVE_EVENTS[m] for m in moves if MOVE_EVENTS[m] is not None]
        clean = {EventKind.EXITED: EventKind.CRASHED}  # a clean exit publishes EXITED where the table says CRASHED
        assert [clean.get(k, k) for k in self.kinds()] == derived


@pytest.fixture
def moves_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="core.process.events")
    return caplog


def crash(code: int = 3) -> list[str]:
    return [PY, "-c", f"import sys; sys.exit({code})"]


async def test_a_start_that_lasts_min_uptime_and_a_stop(make_app, moves_log):
    app = await make_app([{"name": "web", "command": sleeper("moves-web"), "min_uptime": 0.2}], start=False)
    rec = Recorder(app, moves_log, "web")
    await app.start()
    st = app.supervisor.state("web")
    await wait_for(lambda: st.state is S.RUNNING)
    assert (await app.dispatcher.handle("stop web", CLI)).ok
    assert rec.moves() == [(S.STOPPED, S.STARTING), (S.STARTING, S.RUNNING), (S.RUNNING, S.STOPPING),
                           (S.STOPPING, S.STOPPED)]
    assert rec.kinds() == [EventKind.STARTED, EventKind.RUNNING, EventKind.STOPPED]
    rec.check()


async def test_a_killed_program_crashes_into_backoff_and_is_spawned_again(make_app, moves_log):
    app = await make_app([{"name": "web", "command": sleeper("moves-kill"), "min_uptime": 0}], start=False)
    rec = Recorder(app, moves_log, "web")
    await app.start()
    st = app.supervisor.state("web")
    await wait_for(lambda: st.state is S.RUNNING)
    first = st.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: st.state is S.RUNNING and st.pid != first)
    assert rec.moves() == [(S.STOPPED, S.STARTING), (S.STARTING, S.RUNNING), (S.RUNNING, S.BACKOFF),
                           (S.BACKOFF, S.STARTING), (S.STARTING, S.RUNNING)]
    rec.check()


async def test_quick_crashes_back_off_until_procbot_gives_up(make_app, moves_log):
    app = await make_app([{
        "name": "broken", "command": crash(), "min_uptime": 5,
        "backoff": {"initial": 0.01, "factor": 1.0, "max": 0.01}, "give_up": {"failures": 3, "window": 60},
    }], start=False)
    rec = Recorder(app, moves_log, "broken")
    await app.start()
    await wait_for(lambda: app.supervisor.state("broken").state is S.FATAL, timeout=15)
    assert rec.moves() == [(S.STOPPED, S.STARTING), (S.STARTING, S.BACKOFF), (S.BACKOFF, S.STARTING),
                           (S.STARTING, S.BACKOFF), (S.BACKOFF, S.STARTING), (S.STARTING, S.FATAL)]
    assert rec.kinds()[-1] is EventKind.GAVE_UP
    rec.check()


async def test_a_crash_under_restart_never_stays_down_as_exited(make_app, moves_log):
    app = await make_app([{"name": "once", "command": crash(), "restart": "never"}], start=False)
    rec = Recorder(app, moves_log, "once")
    await app.start()
    await wait_for(lambda: app.supervisor.state("once").state is S.EXITED)
    assert rec.moves() == [(S.STOPPED, S.STARTING), (S.STARTING, S.EXITED)]
    assert rec.kinds() == [EventKind.STARTED, EventKind.CRASHED]
    rec.check()


async def test_a_clean_exit_under_restart_always_publishes_exited_and_spawns_again(make_app, moves_log):
    app = await make_app([{"name": "job", "command": crash(0), "restart": "always", "min_uptime": 0}], start=False)
    rec = Recorder(app, moves_log, "job")
    await app.start()
    st = app.supervisor.state("job")
    await wait_for(lambda: st.restarts >= 2)
    assert (await app.dispatcher.handle("stop job", CLI)).ok
    exits = [k for k in rec.kinds() if k is not EventKind.RUNNING]  # min_uptime 0: it may count as up first
    assert exits[:3] == [EventKind.STARTED, EventKind.EXITED, EventKind.STARTED]
    assert EventKind.CRASHED not in rec.kinds()
    rec.check()


async def test_a_start_the_os_refuses_by_hand_is_a_spawn_error(make_app, moves_log):
    app = await make_app([{"name": "ghost", "command": ["/nonexistent/moves-ghost"], "autostart": False}])
    rec = Recorder(app, moves_log, "ghost")
    assert not (await app.dispatcher.handle("start ghost", CLI)).ok
    assert not (await app.dispatcher.handle("start ghost", CLI)).ok
    assert rec.moves() == [(S.STOPPED, S.SPAWN_ERROR), (S.SPAWN_ERROR, S.SPAWN_ERROR)]
    assert rec.kinds() == [EventKind.SPAWN_FAILED, EventKind.SPAWN_FAILED]
    rec.check()


async def test_an_automatic_start_the_os_refuses_retries_in_backoff_until_it_gives_up(make_app, moves_log):
    app = await make_app([{"name": "ghost", "command": ["/nonexistent/moves-ghost"],
                           "backoff": {"initial": 0.01, "factor": 1.0, "max": 0.01},
                           "give_up": {"failures": 2, "window": 60}}], start=False)
    rec = Recorder(app, moves_log, "ghost")
    await app.start()
    await wait_for(lambda: app.supervisor.state("ghost").state is S.FATAL)
    assert rec.moves() == [(S.STOPPED, S.BACKOFF), (S.BACKOFF, S.FATAL)]
    assert rec.kinds() == [EventKind.SPAWN_FAILED, EventKind.GAVE_UP]
    rec.check()


async def test_a_stop_while_waiting_to_restart_goes_straight_to_stopped(make_app, moves_log):
    app = await make_app([{"name": "flaky", "command": crash(), "min_uptime": 5,
                           "backoff": {"initial": 3600, "max": 3600}}], start=False)
    rec = Recorder(app, moves_log, "flaky")
    await app.start()
    st = app.supervisor.state("flaky")
    await wait_for(lambda: st.state is S.BACKOFF)
    assert (await app.dispatcher.handle("stop flaky", CLI)).ok
    assert rec.moves() == [(S.STOPPED, S.STARTING), (S.STARTING, S.BACKOFF), (S.BACKOFF, S.STOPPED)]
    assert rec.kinds() == [EventKind.STARTED, EventKind.CRASHED, EventKind.STOPPED]
    rec.check()


async def test_a_watched_program_is_found_and_lost(make_app, moves_log, tmp_path):
    proc = subprocess.Popen(sleeper("moves-watched"))
    pidfile = tmp_path / "svc.pid"
    pidfile.write_text(f"{proc.pid}\n")
    try:
        app = await make_app(watch=[{"name": "svc", "pidfile": str(pidfile)}], procbot={"scan_interval": 3600},
                             start=False)
        rec = Recorder(app, moves_log, "svc")
        await app.start()
        st = app.supervisor.state("svc")
        await wait_for(lambda: st.state is S.RUNNING)
        proc.kill()
        proc.wait()
        await wait_for(lambda: st.state is S.MISSING)
        assert rec.moves() == [(S.MISSING, S.RUNNING), (S.RUNNING, S.MISSING)]
        assert rec.kinds() == [EventKind.WATCH_FOUND, EventKind.WATCH_LOST]
        rec.check("watched")
    finally:
        proc.kill()
        proc.wait()
