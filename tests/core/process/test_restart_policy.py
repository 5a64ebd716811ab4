"""Restart policy: immediate restart after a stable run, backoff after quick failures, give-up."""

from __future__ import annotations

import os
import signal
import sys

from core.actor import Actor, CommandContext
from core.process.events import EventKind
from core.process.states import State
from tests.conftest import sleeper
from tests.helpers import alive, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable


def crash_now(code: int = 3) -> list[str]:
    return [PY, "-c", f"import sys; sys.exit({code})"]


def collect(app, kinds):
    """Subscribe to the bus; call before app.start() so no early event is missed."""
    q = app.bus.subscribe()
    seen = []

    def drain():
        while not q.empty():
            ev = q.get_nowait()
            if ev.kind in kinds:
                seen.append(ev)
        return seen

    return drain


async def test_a_killed_program_is_detected_and_restarted_with_a_new_pid(make_app):
    app = await make_app([{"name": "web", "command": sleeper("web"), "min_uptime": 0}])
    st = app.supervisor.state("web")
    first = st.pid
    drain = collect(app, {EventKind.CRASHED})
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: st.state is State.RUNNING and st.pid != first)
    assert alive(st.pid)
    crashes = drain()
    assert len(crashes) == 1
    assert crashes[0].signal == "SIGKILL"
    assert crashes[0].pid == first
    assert st.restarts == 1


async def test_quick_failures_back_off_exponentially(make_app):
    app = await make_app([{
        "name": "flaky", "command": crash_now(), "min_uptime": 5,
        "backoff": {"initial": 0.2, "factor": 2.0, "max": 10}, "give_up": {"failures": 50, "window": 60},
    }], start=False)
    drain = collect(app, {EventKind.CRASHED})
    await app.start()
    await wait_for(lambda: len(drain()) >= 3, timeout=15)
    delays = [ev.next_delay for ev in drain()[:3]]
    assert delays == [0.2, 0.4, 0.8]
    assert drain()[0].exit_code == 3


async def test_gives_up_after_too_many_failures_in_the_window(make_app):
    app = await make_app([{
        "name": "broken", "command": crash_now(), "min_uptime": 1,
        "backoff": {"initial": 0.01, "factor": 1.0, "max": 0.01}, "give_up": {"failures": 4, "window": 60},
    }], start=False)
    st = app.supervisor.state("broken")
    drain = collect(app, {EventKind.GAVE_UP, EventKind.CRASHED})
    await app.start()
    await wait_for(lambda: st.state is State.FATAL, timeout=15)
    events = drain()
    assert [e.kind for e in events].count(EventKind.GAVE_UP) == 1
    assert [e.kind for e in events].count(EventKind.CRASHED) == 3
    assert st.restarts == 3
    await app.supervisor.run_log.flush()  # run rows are written behind the program's back
    runs = await app.registry.runs("broken", 10)
    assert len(runs) == 4
    assert all(r.reason == "crashed" for r in runs)


async def test_a_manual_start_clears_the_give_up_state(make_app, tmp_path):
    flag = tmp_path / "healthy"
    cmd = [PY, "-c", f"import os,sys,time\nif not os.path.exists({str(flag)!r}): sys.exit(1)\ntime.sleep(3600)"]
    app = await make_app([{
        "name": "svc", "command": cmd, "min_uptime": 0.5,
        "backoff": {"initial": 0.01, "max": 0.01}, "give_up": {"failures": 2, "window": 60},
    }])
    st = app.supervisor.state("svc")
    await wait_for(lambda: st.state is State.FATAL, timeout=10)
    flag.write_text("ok")
    reply = await app.dispatcher.handle("start svc", CLI)
    assert reply.ok, reply.text
    await wait_for(lambda: st.state is State.RUNNING, timeout=5)
    assert alive(st.pid)
    assert st.restarts == 0


async def test_expected_exit_with_on_failure_policy_stays_down(make_app):
    app = await make_app([{"name": "job", "command": crash_now(0), "restart": "on-failure"}])
    st = app.supervisor.state("job")
    await wait_for(lambda: st.state is State.EXITED)
    assert st.exit_code == 0
    runs = await app.registry.runs("job")
    assert len(runs) == 1


async def test_policy_never_does_not_restart_a_crash(make_app):
    app = await make_app([{"name": "once", "command": crash_now(7), "restart": "never"}])
    st = app.supervisor.state("once")
    await wait_for(lambda: st.state is State.EXITED)
    assert st.exit_code == 7
    assert len(await app.registry.runs("once")) == 1


async def test_policy_always_restarts_even_a_clean_exit(make_app):
    cmd = [PY, "-c", "import time; time.sleep(0.3)"]
    app = await make_app([{"name": "loop", "command": cmd, "restart": "always", "min_uptime": 0.1}])
    await wait_for(lambda: len(app.supervisor.state("loop").failures) == 0
                   and app.supervisor.state("loop").restarts >= 2, timeout=10)


async def test_a_stop_during_backoff_cancels_the_pending_restart(make_app):
    app = await make_app([{
        "name": "flaky", "command": crash_now(), "min_uptime": 5, "backoff": {"initial": 1.0},
    }])
    st = app.supervisor.state("flaky")
    await wait_for(lambda: st.state is State.BACKOFF and st.quick_failures >= 1 and st.next_start_at is not None
                   and st.next_start_at - app.clock.time() > 0.3, timeout=10)
    was_due_at = st.next_start_at
    runs_before = len(await app.registry.runs("flaky", 50))
    reply = await app.dispatcher.handle("stop flaky", CLI)
    assert reply.ok
    assert st.state is State.STOPPED and st.next_start_at is None
    # the cancelled restart was due at was_due_at: once that moment is well past, it must not have happened
    await wait_for(lambda: app.clock.time() > was_due_at + 0.5, timeout=10)
    row = (await app.dispatcher.handle("status flaky", CLI)).table.rows[0]
    assert (row[1], row[2]) == ("stopped", "-")
    assert len(await app.registry.runs("flaky", 50)) == runs_before
