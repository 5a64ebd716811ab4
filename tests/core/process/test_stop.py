"""Stopping: the configured signal to the whole process group, then SIGKILL after the timeout."""

from __future__ import annotations

import sys
import time

from core.actor import Actor, CommandContext
from core.process.events import EventKind
from core.process.logs import log_path
from core.process.states import State
from tests.helpers import alive, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable

# a parent that notes SIGTERM but carries on, and has a grandchild that ignores it
STUBBORN_TREE = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, lambda *a: print("got SIGTERM, staying up", flush=True))
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"])
print("grandchild", child.pid, flush=True)
time.sleep(3600)
"""


async def _grandchild_pid(app, name: str) -> int:
    path = log_path(app.config.log_dir, name)
    await wait_for(lambda: path.exists() and "grandchild" in path.read_text(), timeout=10)
    return int(path.read_text().split("grandchild")[1].split()[0])


async def test_stop_escalates_to_sigkill_and_reaches_grandchildren(make_app):
    app = await make_app([{"name": "tree", "command": [PY, "-c", STUBBORN_TREE], "stop_timeout": 0.5}])
    st = app.supervisor.state("tree")
    parent = st.pid
    grandchild = await _grandchild_pid(app, "tree")
    assert alive(grandchild)
    started = time.monotonic()
    reply = await app.dispatcher.handle("stop tree", CLI)
    assert reply.ok, reply.text
    # a lower bound, not a speed check: SIGKILL must not come before stop_timeout has passed
    assert time.monotonic() - started >= 0.5
    assert st.state is State.STOPPED
    assert st.signal == "SIGKILL"
    assert "got SIGTERM, staying up" in log_path(app.config.log_dir, "tree").read_text()  # asked nicely first
    assert not alive(parent)
    await wait_for(lambda: not alive(grandchild), timeout=5)


async def test_a_polite_program_stops_on_its_stop_signal(make_app):
    cmd = [PY, "-c", "import signal,sys,time\nsignal.signal(signal.SIGINT, lambda *a: sys.exit(0))\n"
           "print('ready', flush=True)\ntime.sleep(3600)"]
    app = await make_app([{"name": "polite", "command": cmd, "stop_signal": "INT", "stop_timeout": 30}])
    st = app.supervisor.state("polite")
    path = log_path(app.config.log_dir, "polite")
    await wait_for(lambda: path.exists() and "ready" in path.read_text())
    reply = await app.dispatcher.handle("stop polite", CLI)
    assert reply.ok
    assert st.exit_code == 0 and st.signal is None


async def test_a_stop_is_not_reported_as_a_crash(make_app):
    cmd = [PY, "-c", "import time; time.sleep(3600)"]
    app = await make_app([{"name": "svc", "command": cmd}])
    q = app.bus.subscribe()
    await app.dispatcher.handle("stop svc", CLI)
    kinds = []
    while not q.empty():
        kinds.append(q.get_nowait().kind)
    assert EventKind.CRASHED not in kinds
    assert EventKind.STOPPED in kinds
    await app.recorder.stop()  # flush the event batch
    runs = await app.registry.runs("svc")
    assert runs[0].reason == "stopped"


async def test_stopping_a_stopped_program_says_so(make_app):
    app = await make_app([{"name": "svc", "command": [PY, "-c", "pass"], "autostart": False}])
    reply = await app.dispatcher.handle("stop svc", CLI)
    assert not reply.ok
    assert "not running" in reply.text


# a parent that stops politely on SIGTERM, leaving behind a grandchild that ignores it
POLITE_PARENT_STUBBORN_CHILD = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('child ready', flush=True); "
    "time.sleep(3600)"])
print("grandchild", child.pid, flush=True)
time.sleep(3600)
"""


async def test_a_grandchild_outliving_its_polite_parent_is_killed_after_the_stop_timeout(make_app):
    app = await make_app([{"name": "tree", "command": [PY, "-c", POLITE_PARENT_STUBBORN_CHILD],
                           "stop_timeout": 0.5}])
    st = app.supervisor.state("tree")
    grandchild = await _grandchild_pid(app, "tree")
    await wait_for(lambda: "child ready" in log_path(app.config.log_dir, "tree").read_text())
    reply = await app.dispatcher.handle("stop tree", CLI)
    assert reply.ok, reply.text
    assert st.state is State.STOPPED
    assert st.signal == "SIGTERM"  # the parent itself went at the first signal
    assert not alive(grandchild)  # stop returned only once the whole group was gone
