"""Programs are told apart by (pid, start time), never by executable name."""

from __future__ import annotations

import subprocess

from core.actor import Actor, CommandContext
from tests.conftest import sleeper
from tests.helpers import alive

CLI = CommandContext(Actor("cli", "tester", local=True))


async def test_two_programs_running_python_are_reported_separately(make_app):
    app = await make_app([{"name": "alpha", "command": sleeper("a")}, {"name": "beta", "command": sleeper("b")}])
    a, b = app.supervisor.state("alpha"), app.supervisor.state("beta")
    assert a.pid and b.pid and a.pid != b.pid
    reply = await app.dispatcher.handle("status", CLI)
    rows = {row[0]: row for row in reply.table.rows}
    assert rows["alpha"][2] == str(a.pid)
    assert rows["beta"][2] == str(b.pid)


async def test_unrelated_python_on_the_host_is_never_counted(make_app):
    # the stranger runs the very same argv as the program: only (pid, start time) tells them apart
    stranger = subprocess.Popen(sleeper("a"))
    try:
        app = await make_app([{"name": "alpha", "command": sleeper("a"), "autostart": False}])
        await app.scanner.scan()
        reply = await app.dispatcher.handle("status alpha", CLI)
        assert reply.table.rows[0][1] == "stopped"
        assert reply.table.rows[0][2] == "-"
        assert stranger.pid not in app.supervisor.state("alpha").tree_pids

        assert (await app.dispatcher.handle("start alpha", CLI)).ok
        await app.scanner.scan()
        st = app.supervisor.state("alpha")
        reply = await app.dispatcher.handle("status alpha", CLI)
        assert reply.table.rows[0][2] == str(st.pid) != str(stranger.pid)
        assert st.tree_pids == [st.pid]
        assert stranger.pid not in st.tree_pids

        assert (await app.dispatcher.handle("stop alpha", CLI)).ok
        assert alive(stranger.pid)  # stopping the program never touches its look-alike
    finally:
        stranger.kill()
        stranger.wait()


async def test_a_reused_pid_is_not_mistaken_for_the_program(make_app, tmp_path):
    """A stale run row whose pid now belongs to another process is not adopted, and that process is left alone."""
    import os
    import signal

    import aiosqlite

    from tests.helpers import wait_for

    state = tmp_path / "state"
    app = await make_app([{"name": "alpha", "command": sleeper("a")}], state_dir=state)
    old_pid = app.supervisor.state("alpha").pid
    await app.stop(stop_programs=False)
    os.killpg(old_pid, signal.SIGKILL)
    await wait_for(lambda: not alive(old_pid))
    stranger = subprocess.Popen(sleeper("a"))  # same argv, no tag, not in the program's cgroup
    try:
        # forge: the open run's pid is now the stranger's (a reused pid: its start time differs)
        async with aiosqlite.connect(state / "procbot.db") as db:
            await db.execute("UPDATE runs SET pid = ? WHERE ended_at IS NULL", (stranger.pid,))
            await db.commit()
        app2 = await make_app([{"name": "alpha", "command": sleeper("a")}], state_dir=state)
        st = app2.supervisor.state("alpha")
        assert st.pid not in (None, stranger.pid)
        assert not st.adopted
        assert alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()
