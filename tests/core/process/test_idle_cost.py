"""What keeps an idle daemon cheap: kept /proc descriptors, incremental discovery, the raised fd limit."""

from __future__ import annotations

import os
import resource
import sys

from bot.limits import raise_nofile_limit
from core.actor import Actor, CommandContext
from core.process.scanner import _SessionIndex
from tests.helpers import wait_for

PY = sys.executable
SLEEP = [PY, "-c", "import time; time.sleep(3600)"]
CLI = CommandContext(Actor("cli", "tester", local=True), channel="cli")


def stat_descriptors_of(pid: int) -> list[int]:
    """This process's open descriptors that point at /proc/<pid>/stat."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == f"/proc/{pid}/stat":
                out.append(int(fd))
        except OSError:
            continue
    return out


async def test_the_stat_descriptor_of_a_stopped_program_is_closed_by_the_next_scan(make_app):
    app = await make_app([{"name": "a", "command": SLEEP}])
    st = app.supervisor.state("a")
    await wait_for(lambda: st.pid is not None)
    pid = st.pid
    await app.scanner.scan()
    assert stat_descriptors_of(pid)  # kept open between ticks
    assert (await app.dispatcher.handle("stop a", CLI)).ok
    await wait_for(lambda: not st.state.is_up)
    await app.scanner.scan()
    assert stat_descriptors_of(pid) == []


async def test_stat_descriptors_are_not_inherited_by_programs(make_app):
    app = await make_app([{"name": "a", "command": SLEEP}])
    st = app.supervisor.state("a")
    await wait_for(lambda: st.pid is not None)
    await app.scanner.scan()
    fds = stat_descriptors_of(st.pid)
    assert fds and all(not os.get_inheritable(fd) for fd in fds)


async def test_closing_the_app_releases_every_stat_descriptor(make_app):
    app = await make_app([{"name": "a", "command": SLEEP}])
    st = app.supervisor.state("a")
    await wait_for(lambda: st.pid is not None)
    pid = st.pid
    await app.scanner.scan()
    await app.stop(stop_programs=True)
    assert stat_descriptors_of(pid) == []


def test_a_process_forked_after_the_first_look_is_found_in_its_session():
    import subprocess

    index = _SessionIndex()
    leader = subprocess.Popen([PY, "-c", "import sys, time; sys.stdin.readline(); "
                               "import subprocess; p = subprocess.Popen(['sleep', '60']); print(p.pid, flush=True); "
                               "time.sleep(60)"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              start_new_session=True)
    try:
        assert index.members({leader.pid})[leader.pid] == [leader.pid]
        assert leader.stdin is not None and leader.stdout is not None
        leader.stdin.write(b"go\n")
        leader.stdin.flush()
        child = int(leader.stdout.readline())
        assert sorted(index.members({leader.pid})[leader.pid]) == sorted([leader.pid, child])
    finally:
        os.killpg(leader.pid, 9)
        leader.wait()


def test_a_pid_counter_wrap_rebuilds_the_session_index():
    index = _SessionIndex()
    me = os.getsid(0)
    index.members({me})
    # as after a wrap: our pid was indexed for another process (another session), and a pid below the
    # highest one of the last look shows up unseen; the stale entry must not survive
    index._sid[os.getpid()] = -12345
    other = next(p for p in index._sid if p != os.getpid())
    del index._sid[other]
    index._top = max(index._sid) + 1
    assert os.getpid() in index.members({me})[me]


def test_the_soft_open_file_limit_is_raised_to_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        assert raise_nofile_limit() == (hard, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
