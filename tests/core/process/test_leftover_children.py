"""When a program's main process dies, the children it leaves behind are stopped before the replacement."""

from __future__ import annotations

import os
import signal
import sys

from core.process.logs import log_path
from core.process.states import State
from tests.helpers import alive, wait_for

PY = sys.executable

MASTER = """
import subprocess, sys, time
w = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
print("worker", w.pid, flush=True)
time.sleep(3600)
"""


async def test_a_crashed_masters_workers_are_stopped_before_the_replacement_starts(make_app):
    app = await make_app([{"name": "master", "command": [PY, "-c", MASTER], "min_uptime": 0, "stop_timeout": 2}])
    st = app.supervisor.state("master")
    path = log_path(app.config.log_dir, "master")
    await wait_for(lambda: path.exists() and "worker" in path.read_text())
    worker = int(path.read_text().split()[1])
    first = st.pid
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: st.pid not in (None, first) and st.state.is_up)
    assert not alive(worker)
    await wait_for(lambda: path.read_text().count("worker") == 2)
    assert st.state in (State.STARTING, State.RUNNING)
