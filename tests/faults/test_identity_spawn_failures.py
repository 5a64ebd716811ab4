"""Cases 3 and 4: a failed automatic (re)start is retried with the backoff, never left for good."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys

from core.actor import Actor, CommandContext
from core.logd.client import DirectFiles
from core.process.events import EventKind, ProgramEvent
from core.process.states import State
from tests.faults.identity_support import tagged_program
from tests.helpers import kill_tagged, unique_tag, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
QUICK_RETRY = {"initial": 0.3, "factor": 1.0, "max": 0.3}


async def _next_event(q: asyncio.Queue[ProgramEvent], kind: EventKind, timeout: float = 10.0) -> ProgramEvent:
    async def get() -> ProgramEvent:
        while True:
            ev = await q.get()
            if ev.kind is kind:
                return ev

    return await asyncio.wait_for(get(), timeout)


async def _crash_and_fail(app, name: str, q) -> ProgramEvent:  # type: ignore[no-untyped-def]
    st = app.supervisor.state(name)
    os.kill(st.pid, signal.SIGKILL)
    return await _next_event(q, EventKind.SPAWN_FAILED)


async def test_an_executable_missing_for_a_moment_during_a_crash_comes_back_by_itself(make_app, tmp_path):
    tag = unique_tag("exe-missing")
    exe = tmp_path / "bin" / "web"
    exe.parent.mkdir()
    exe.symlink_to(sys.executable)
    argv = [str(exe), *tagged_program(tag)[1:]]
    try:
        app = await make_app([{"name": "web", "command": argv, "backoff": QUICK_RETRY}])
        q = app.bus.subscribe()
        st = app.supervisor.state("web")
        first = st.pid
        exe.rename(tmp_path / "web.away")  # a deploy swapping the binary
        failed = await _crash_and_fail(app, "web", q)
        assert "not found" in failed.message and "retrying" in failed.next_action
        assert st.state is State.BACKOFF
        (tmp_path / "web.away").rename(exe)
        await wait_for(lambda: st.state.is_up and st.pid not in (None, first), timeout=10)
    finally:
        kill_tagged(tag)


async def test_emfile_at_a_restart_is_retried_until_descriptors_are_free_again(make_app):
    tag = unique_tag("emfile")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        app = await make_app([{"name": "web", "command": tagged_program(tag), "backoff": QUICK_RETRY,
                               "min_uptime": 0}])
        q = app.bus.subscribe()
        st = app.supervisor.state("web")
        first = st.pid
        # below every fd in use: open fds keep working, any new one (the restart's) gets EMFILE
        resource.setrlimit(resource.RLIMIT_NOFILE, (3, hard))
        try:
            failed = await _crash_and_fail(app, "web", q)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert "Too many open files" in failed.message
        await wait_for(lambda: st.state.is_up and st.pid not in (None, first), timeout=10)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        kill_tagged(tag)


async def test_an_unopenable_log_file_during_an_automatic_restart_is_retried_and_the_program_comes_back(make_app):
    """The direct-file fallback (used when the log daemon cannot start) opens the log at each spawn."""
    tag = unique_tag("logdir")
    try:
        app = await make_app([{"name": "web", "command": tagged_program(tag), "backoff": QUICK_RETRY}])
        q = app.bus.subscribe()
        st = app.supervisor.state("web")
        first = st.pid
        logs = app.config.log_dir
        app.supervisor.runners["web"].logs = DirectFiles(logs)
        logs.mkdir(parents=True, exist_ok=True)
        logs.rename(logs.with_name("logs.away"))
        logs.write_text("not a folder")  # the log file cannot be opened: ENOTDIR
        try:
            failed = await _crash_and_fail(app, "web", q)
            assert "retrying" in failed.next_action
            status = await app.dispatcher.handle("status web", CLI)
            assert status.ok and status.table.rows[0][1] == "backoff"
        finally:
            logs.unlink()
            logs.with_name("logs.away").rename(logs)
        await wait_for(lambda: st.state.is_up and st.pid not in (None, first), timeout=10)
    finally:
        kill_tagged(tag)


async def test_an_unwritable_log_dir_does_not_keep_a_program_down_when_the_log_daemon_holds_its_output(make_app):
    tag = unique_tag("logdir-logd")
    try:
        app = await make_app([{"name": "web", "command": tagged_program(tag), "backoff": QUICK_RETRY}])
        st = app.supervisor.state("web")
        first = st.pid
        logs = app.config.log_dir
        logs.mkdir(parents=True, exist_ok=True)
        logs.rename(logs.with_name("logs.away"))
        logs.write_text("not a folder")
        try:
            os.kill(first, signal.SIGKILL)
            await wait_for(lambda: st.state.is_up and st.pid not in (None, first), timeout=10)
        finally:
            logs.unlink()
            logs.with_name("logs.away").rename(logs)
    finally:
        kill_tagged(tag)


async def test_a_manual_start_that_fails_answers_with_the_reason(make_app, tmp_path):
    app = await make_app([{"name": "web", "command": [str(tmp_path / "nowhere")], "autostart": False}])
    reply = await app.dispatcher.handle("start web", CLI)
    assert not reply.ok and "not found" in reply.text
    assert app.supervisor.state("web").state is State.SPAWN_ERROR


async def test_automatic_starts_that_keep_failing_give_up_under_the_crash_rule_and_say_why(make_app, tmp_path):
    app = await make_app([{"name": "web", "command": [str(tmp_path / "nowhere")], "backoff": QUICK_RETRY,
                           "give_up": {"failures": 3, "window": 60}}], start=False)
    q = app.bus.subscribe()
    await app.start()
    gave_up = await _next_event(q, EventKind.GAVE_UP)
    st = app.supervisor.state("web")
    assert st.state is State.FATAL
    assert "not found" in gave_up.message and "not found" in st.message
