"""``depends_on`` and ``priority`` with real processes: who starts after whom, and who stops first."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.actor import Actor, CommandContext
from core.process.events import EventKind, ProgramEvent
from core.process.logs import log_path
from core.process.states import State
from core.spec.instances import instance_name
from tests.helpers import unique_tag, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable


def sleeper(tag: str) -> list[str]:
    return [PY, "-c", f"import time  # {tag}\nwhile True: time.sleep(3600)"]


def prog(name: str, **kw) -> dict:
    return {"name": name, "command": sleeper(unique_tag(name)), "min_uptime": 0.3, **kw}


def drain(q: asyncio.Queue[ProgramEvent]) -> list[tuple[EventKind, str]]:
    out = []
    while not q.empty():
        ev = q.get_nowait()
        out.append((ev.kind, ev.program))
    return out


async def started_app(make_app, programs: list[dict], **kw):
    """An app whose every event from the first spawn on is in the returned queue."""
    app = await make_app(programs, start=False, **kw)
    q = app.bus.subscribe()
    await app.start()
    return app, q


def running(app, *names: str) -> bool:
    return all(app.supervisor.state(n).state is State.RUNNING for n in names)


async def test_a_dependent_starts_once_its_dependency_is_running(make_app):
    app, q = await started_app(make_app, [prog("web", depends_on=["db"]), prog("db")])
    await wait_for(lambda: running(app, "web", "db"))
    events = drain(q)
    assert events.index((EventKind.RUNNING, "db")) < events.index((EventKind.STARTED, "web"))


async def test_a_dependent_waits_for_all_instances_of_its_dependency(make_app):
    app, q = await started_app(make_app, [prog("web", depends_on=["db"]), prog("db", instances=2, min_uptime=0.6)])
    dbs = [instance_name("db", i) for i in range(2)]
    await wait_for(lambda: running(app, "web", *dbs))
    events = drain(q)
    assert max(events.index((EventKind.RUNNING, d)) for d in dbs) < events.index((EventKind.STARTED, "web"))


async def test_a_dependent_of_a_stopped_program_waits_and_says_so(make_app):
    app = await make_app([prog("db", autostart=False), prog("web", depends_on=["db"]), prog("other")])
    await wait_for(lambda: running(app, "other"))  # a program that depends on nothing is not held up
    web = app.supervisor.state("web")
    assert web.state is State.STOPPED and web.message == "waiting for db"
    reply = await app.dispatcher.handle("status web", CLI)
    (row,) = reply.table.rows
    assert row[:2] == ["web", "stopped"] and row[-1] == "waiting for db"


async def test_a_waiting_dependent_starts_when_its_dependency_is_started_by_hand(make_app):
    app = await make_app([prog("db", autostart=False), prog("web", depends_on=["db"])])
    q = app.bus.subscribe()
    reply = await app.dispatcher.handle("start db", CLI)
    assert reply.ok, reply.text
    await wait_for(lambda: running(app, "web", "db"))
    events = drain(q)
    assert events.index((EventKind.RUNNING, "db")) < events.index((EventKind.STARTED, "web"))


async def test_starting_a_dependent_whose_dependency_is_down_is_refused(make_app):
    app = await make_app([prog("db", autostart=False), prog("web", depends_on=["db"], autostart=False)])
    reply = await app.dispatcher.handle("start web", CLI)
    assert not reply.ok
    assert "`web` starts after `db`, which is stopped" in reply.text
    assert app.supervisor.state("web").state is State.STOPPED


async def test_start_all_starts_dependencies_first_in_one_command(make_app):
    app = await make_app([prog("web", depends_on=["db"], autostart=False), prog("db", autostart=False)])
    q = app.bus.subscribe()
    reply = await app.dispatcher.handle("start all", CLI)
    assert reply.ok, reply.text
    assert running(app, "db") and app.supervisor.state("web").state.is_up
    events = drain(q)
    assert events.index((EventKind.RUNNING, "db")) < events.index((EventKind.STARTED, "web"))


async def test_a_dependent_is_not_started_when_its_dependency_fails_in_the_same_command(make_app):
    broken = {"name": "db", "command": [PY, "-c", "raise SystemExit(3)"], "autostart": False, "min_uptime": 5,
              "restart": "never"}
    app = await make_app([broken, prog("web", depends_on=["db"], autostart=False)])
    reply = await app.dispatcher.handle("start all", CLI)
    assert not reply.ok
    assert "`web` was not started: `db` did not come up" in reply.text
    assert app.supervisor.state("web").state is State.STOPPED


# a dependency that, on its stop signal, writes down whether its dependent (pid in a file) was still alive
DB_NOTES_DEPENDENT = """
import os, signal, sys, time
def on_term(*_):
    pid = int(open(sys.argv[1]).read())
    print("web alive" if os.path.exists(f"/proc/{pid}") else "web gone", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("db up", flush=True)
while True: time.sleep(3600)
"""
# a dependent that writes its pid, and takes a moment to stop: a db stopped alongside it would see it alive
WEB_SLOW_STOP = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (time.sleep(0.5), sys.exit(0)))
open(sys.argv[1], "w").write(str(os.getpid()))
while True: time.sleep(3600)
"""


def stop_pair(tmp_path: Path) -> list[dict]:
    pidfile = str(tmp_path / "web.pid")
    return [{"name": "db", "command": [PY, "-c", DB_NOTES_DEPENDENT, pidfile], "min_uptime": 0.2},
            {"name": "web", "command": [PY, "-c", WEB_SLOW_STOP, pidfile], "depends_on": ["db"], "min_uptime": 0.2}]


async def test_stop_all_stops_dependents_before_their_dependencies(make_app, tmp_path):
    app = await make_app(stop_pair(tmp_path))
    await wait_for(lambda: running(app, "web", "db") and (tmp_path / "web.pid").exists())
    reply = await app.dispatcher.handle("stop all", CLI)
    assert reply.ok, reply.text
    assert "web gone" in log_path(app.config.log_dir, "db").read_text()


async def test_shutdown_stops_dependents_before_their_dependencies(make_app, tmp_path):
    app = await make_app(stop_pair(tmp_path))
    await wait_for(lambda: running(app, "web", "db") and (tmp_path / "web.pid").exists())
    await app.stop()
    assert "web gone" in log_path(app.config.log_dir, "db").read_text()


async def test_restart_all_stops_in_reverse_and_starts_in_order(make_app, tmp_path):
    app = await make_app(stop_pair(tmp_path))
    await wait_for(lambda: running(app, "web", "db") and (tmp_path / "web.pid").exists())
    q = app.bus.subscribe()
    reply = await app.dispatcher.handle("restart all", CLI)
    assert reply.ok, reply.text
    assert "web gone" in log_path(app.config.log_dir, "db").read_text()
    await wait_for(lambda: running(app, "web", "db"))
    events = drain(q)
    assert events.index((EventKind.RUNNING, "db")) < events.index((EventKind.STARTED, "web"))


async def test_stopping_a_waiting_dependent_ends_its_wait(make_app):
    app = await make_app([prog("db", autostart=False), prog("web", depends_on=["db"])])
    assert (await app.dispatcher.handle("stop web", CLI)).ok
    assert (await app.dispatcher.handle("start db", CLI)).ok
    await wait_for(lambda: running(app, "db"))
    assert app.supervisor.sequencer.waiting == {}
    assert app.supervisor.state("web").state is State.STOPPED


async def test_lower_priority_numbers_are_spawned_first(make_app):
    app = await make_app([prog("c", priority=300), prog("a", priority=100), prog("b", priority=200),
                          prog("d")])  # the default, 999: last
    await app.supervisor.run_log.flush()
    rows = await app.registry.fetch_all("SELECT program FROM runs ORDER BY id")
    assert [r[0] for r in rows] == ["a", "b", "c", "d"]


async def test_a_dependency_on_a_watched_program_waits_until_it_is_found(make_app, tmp_path):
    tag = unique_tag("watched-db")
    app = await make_app([prog("web", depends_on=["pg"])], watch=[{"name": "pg", "pattern": tag}])
    assert app.supervisor.state("web").state is State.STOPPED
    proc = await asyncio.create_subprocess_exec(*sleeper(tag))
    try:
        await wait_for(lambda: running(app, "web"), timeout=20)
    finally:
        proc.kill()
        await proc.wait()


async def test_starting_a_dependent_while_its_dependency_is_starting_waits_for_it(make_app):
    app = await make_app([prog("db", autostart=False, min_uptime=0.8), prog("web", depends_on=["db"],
                                                                            autostart=False)])
    q = app.bus.subscribe()
    assert (await app.dispatcher.handle("start db", CLI)).ok
    assert app.supervisor.state("db").state is State.STARTING
    reply = await app.dispatcher.handle("start web", CLI)
    assert reply.ok, reply.text
    events = drain(q)
    assert events.index((EventKind.RUNNING, "db")) < events.index((EventKind.STARTED, "web"))


async def test_a_dependency_slow_to_be_ready_leaves_the_dependent_waiting(make_app, monkeypatch):
    from core.process import sequencer

    monkeypatch.setattr(sequencer, "COMMAND_WAIT", 0.2)  # db takes 3 s to count as running
    app = await make_app([prog("db", autostart=False, min_uptime=3), prog("web", depends_on=["db"],
                                                                          autostart=False)])
    reply = await app.dispatcher.handle("start all", CLI)
    assert not reply.ok
    assert "`web` waits for db, not ready after 0.2 s; it starts once they are." in reply.text
    assert app.supervisor.state("web").message == "waiting for db"
    await wait_for(lambda: running(app, "db", "web"), timeout=20)


async def test_a_dependent_of_a_health_checked_program_starts_once_its_first_probe_passes(make_app, tmp_path):
    flag = tmp_path / "db-ready"
    check = [PY, "-c", f"import os, sys; sys.exit(0 if os.path.exists({str(flag)!r}) else 1)"]
    app, _events = await started_app(make_app, [
        prog("web", depends_on=["db"]),
        prog("db", health={"command": check, "interval": 0.2, "timeout": 5.0, "failures": 1000}),
    ])
    await wait_for(lambda: running(app, "db"))
    await asyncio.sleep(1.0)  # several failing probes: running, not ready, and web still waits
    assert app.supervisor.state("web").state is State.STOPPED
    assert app.supervisor.state("web").message == "waiting for db"
    flag.touch()  # the next probe passes: no state moves, and web starts all the same
    await wait_for(lambda: running(app, "web"))
    assert app.supervisor.state("db").healthy is True
