"""Watched programs: found by pidfile or command-line pattern in the batch scan."""

from __future__ import annotations

import asyncio
import subprocess

from core.actor import Actor, CommandContext
from core.events import EventKind
from core.program_state import State
from tests.conftest import sleeper
from tests.helpers import wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))


async def test_a_pidfile_program_is_found_and_its_exit_noticed_at_once(make_app, tmp_path):
    proc = subprocess.Popen(sleeper("watched-pidfile"))
    pidfile = tmp_path / "svc.pid"
    pidfile.write_text(f"{proc.pid}\n")
    try:
        # found by the start-up scan; after that no scan comes for an hour, so only the pidfd can tell
        app = await make_app(watch=[{"name": "svc", "pidfile": str(pidfile)}], procbot={"scan_interval": 3600})
        st = app.supervisor.state("svc")
        assert st.state is State.RUNNING and st.pid == proc.pid
        q = app.bus.subscribe()
        proc.kill()
        proc.wait()
        await wait_for(lambda: st.state is State.MISSING, timeout=10)
        ev = await asyncio.wait_for(q.get(), 10)
        assert ev.kind is EventKind.WATCH_LOST and ev.pid == proc.pid
        assert ev.message == "process exited"  # the pidfd told; a scan would say the pidfile's pid is not running
    finally:
        proc.kill()
        proc.wait()


async def test_a_pattern_matches_the_full_command_line_not_the_executable_name(make_app):
    target = subprocess.Popen(sleeper("watched-pattern-target"))
    decoy = subprocess.Popen(sleeper("some-other-python"))
    try:
        app = await make_app(watch=[{"name": "tgt", "pattern": "watched-pattern-target"}])
        st = app.supervisor.state("tgt")
        assert st.pid == target.pid
    finally:
        target.kill()
        decoy.kill()
        target.wait()
        decoy.wait()


async def test_a_pidfile_holding_garbage_is_reported_not_crashed_on(make_app, tmp_path):
    pidfile = tmp_path / "bad.pid"
    pidfile.write_text("not-a-pid; rm -rf /\n")
    app = await make_app(watch=[{"name": "bad", "pidfile": str(pidfile)}])
    reply = await app.dispatcher.handle("status bad", CLI)
    assert reply.table.rows[0][1] == "missing"
    assert "does not hold a pid" in reply.table.rows[0][6]


async def test_watched_programs_cannot_be_started_or_stopped(make_app, tmp_path):
    app = await make_app(watch=[{"name": "ext", "pidfile": str(tmp_path / "none.pid")}])
    for verb in ("start", "stop", "restart"):
        reply = await app.dispatcher.handle(f"{verb} ext", CLI)
        assert not reply.ok, verb
        assert "watched" in reply.text, (verb, reply.text)
    assert app.supervisor.state("ext").state is State.MISSING
