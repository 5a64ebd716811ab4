"""Case 7: processes that leave the process group are still the program's, for stop and for shutdown."""

from __future__ import annotations

import pytest

from core.actor import Actor, CommandContext
from tests.faults.identity_support import MODES, tagged_program
from tests.helpers import kill_tagged, tagged_pids, unique_tag, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))

DAEMONIZE = """
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True: time.sleep(3600)
    os._exit(0)
sys.exit(0)
"""

SETPGID_CHILDREN = """
for _ in range(20):
    if os.fork() == 0:
        os.setpgid(0, 0)
        while True: time.sleep(3600)
print("children started", flush=True)
"""


def _daemonizer(tag: str) -> dict[str, object]:
    return {"name": "daemon", "command": tagged_program(tag, DAEMONIZE), "restart": "always", "min_uptime": 0,
            "stop_timeout": 2, "backoff": {"initial": 0.2, "factor": 1.0, "max": 0.2}}


@pytest.mark.parametrize("mode", MODES)
async def test_a_double_forking_daemon_with_restart_always_leaves_no_copy_after_stop(make_app, mode):
    tag = unique_tag("dfork")
    try:
        app = await make_app([_daemonizer(tag)], procbot={"cgroup": mode})
        st = app.supervisor.state("daemon")
        await wait_for(lambda: st.restarts >= 4, timeout=20)
        assert len(tagged_pids(tag)) <= 2  # at most the daemon of the run being swept and the next one
        reply = await app.dispatcher.handle("stop daemon", CLI)
        assert reply.ok, reply.text
        assert tagged_pids(tag) == []
    finally:
        kill_tagged(tag)


@pytest.mark.parametrize("mode", MODES)
async def test_a_double_forking_daemon_with_restart_always_leaves_no_copy_after_shutdown(make_app, mode):
    tag = unique_tag("dforksd")
    try:
        app = await make_app([_daemonizer(tag)], procbot={"cgroup": mode})
        st = app.supervisor.state("daemon")
        await wait_for(lambda: st.restarts >= 4, timeout=20)
        await app.stop(stop_programs=True)
        assert tagged_pids(tag) == []
    finally:
        kill_tagged(tag)


@pytest.mark.parametrize("mode", MODES)
async def test_twenty_children_that_left_the_process_group_are_reached_by_stop(make_app, mode):
    tag = unique_tag("setpgid")
    try:
        app = await make_app([{"name": "pool", "command": tagged_program(tag, SETPGID_CHILDREN), "stop_timeout": 2}],
                             procbot={"cgroup": mode})
        await wait_for(lambda: len(tagged_pids(tag)) == 21, timeout=15)
        reply = await app.dispatcher.handle("stop pool", CLI)
        assert reply.ok, reply.text
        assert app.supervisor.state("pool").state.value == "stopped"
        assert tagged_pids(tag) == []
    finally:
        kill_tagged(tag)
