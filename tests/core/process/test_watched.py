"""Watched programs: found by pidfile or command-line pattern in the batch scan."""

from __future__ import annotations

import asyncio
import subprocess

from core.actor import Actor, CommandContext
from core.process.events import EventKind
from core.process.states import State
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


# a parent that forks a child, writes the child's pid to the pidfile, lets the child exit and never reaps it
_ZOMBIE_PARENT = """
import os, signal, sys, time
child = os.fork()
if child == 0:
    time.sleep(float(sys.argv[2]))
    os._exit(0)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{child}\\n")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(3600)  # never calls wait(): the child stays a zombie (state Z)
"""


def _state_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:  # ENOENT, or ESRCH when it vanishes between open and read
        return "gone"


async def test_a_watched_process_that_becomes_a_zombie_is_lost_once_not_flapping(make_app, tmp_path):
    import sys

    pidfile = tmp_path / "zombie.pid"
    parent = subprocess.Popen([sys.executable, "-c", _ZOMBIE_PARENT, str(pidfile), "1.0"])
    try:
        await wait_for(lambda: pidfile.exists(), timeout=10)
        child = int(pidfile.read_text())
        app = await make_app(watch=[{"name": "zsvc", "pidfile": str(pidfile)}], procbot={"scan_interval": 0.1})
        q = app.bus.subscribe()
        st = app.supervisor.state("zsvc")
        await wait_for(lambda: _state_of(child) == "Z", timeout=10)
        await wait_for(lambda: st.state is State.MISSING, timeout=10)
        scans = app.scanner.scans
        await wait_for(lambda: app.scanner.scans >= scans + 10, timeout=20)  # many scans see the zombie
        kinds = []
        while not q.empty():
            kinds.append(q.get_nowait().kind)
        watch_kinds = [k for k in kinds if k in (EventKind.WATCH_FOUND, EventKind.WATCH_LOST)]
        assert watch_kinds == [EventKind.WATCH_LOST], watch_kinds
        assert st.state is State.MISSING
        assert "zombie" in st.message
    finally:
        parent.kill()
        parent.wait()
