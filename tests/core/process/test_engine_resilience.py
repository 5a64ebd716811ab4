"""The engine keeps going through the failures an operator meets: a full disk, a reload mid-scan, stale pidfiles."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from core.actor import Actor, CommandContext
from core.errors import RegistryError
from core.process.states import State
from tests.conftest import sleeper
from tests.helpers import wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable


def disk_full(monkeypatch, registry, method: str) -> dict[str, int]:
    """Make one registry write fail the way a full disk does (the registry's own error type)."""
    calls = {"n": 0}

    async def full(*args, **kwargs):
        calls["n"] += 1
        raise RegistryError("Registry write failed: database or disk is full")

    monkeypatch.setattr(registry, method, full)
    return calls


async def test_the_scanner_survives_a_full_disk(make_app, monkeypatch):
    app = await make_app([{"name": "a", "command": sleeper("resil-a")}], procbot={"scan_interval": 0.1})
    app.scanner.bucket_seconds = 0.01  # every pass finishes a bucket, so every pass writes samples
    calls = disk_full(monkeypatch, app.registry, "add_samples")
    await wait_for(lambda: calls["n"] >= 3, timeout=10)
    st = app.supervisor.state("a")
    os.kill(st.pid, 9)
    await wait_for(lambda: st.rss_bytes == 0 or st.pid is None, timeout=10)  # the cache is still kept current


async def test_a_start_that_cannot_be_recorded_keeps_running_and_stop_still_reaches_it(make_app, monkeypatch):
    # identity is the cgroup or the environment tag, not the row: a failed write never kills a program
    from tests.helpers import count_tagged

    app = await make_app([{"name": "a", "command": sleeper("resil-unrecorded"), "autostart": False}])
    disk_full(monkeypatch, app.registry, "record_runs")
    reply = await app.dispatcher.handle("start a", CLI)
    assert reply.ok
    st = app.supervisor.state("a")
    assert st.state is State.STARTING and count_tagged("resil-unrecorded") == 1
    assert (await app.dispatcher.handle("stop a", CLI)).ok
    assert count_tagged("resil-unrecorded") == 0


async def test_reloading_a_crash_looping_program_applies_the_fix(tmp_path):
    from bot.app import App
    from bot.config_loader import load_config

    cfg = tmp_path / "procbot.toml"
    head = f'[procbot]\nstate_dir = "{tmp_path / "st"}"\n'
    broken = f'[[program]]\nname = "api"\ncommand = ["{PY}", "-c", "import sys; sys.exit(2)"]\nmin_uptime = 5\n'
    cfg.write_text(head + broken)
    app = App(load_config(cfg), with_adapters=False, console_events=False)
    await app.start()
    try:
        st = app.supervisor.state("api")
        await wait_for(lambda: st.state is State.BACKOFF, timeout=10)
        fixed = broken.replace("import sys; sys.exit(2)", "import time; time.sleep(3600)")
        cfg.write_text(head + fixed)
        reply = await app.dispatcher.handle("reload", CLI)
        assert "changed: api" in reply.text
        await wait_for(lambda: app.supervisor.state("api").state is State.STARTING, timeout=10)
    finally:
        await app.stop()


async def test_two_reloads_at_once_start_one_copy(tmp_path):
    from bot.app import App
    from bot.config_loader import load_config
    from tests.helpers import count_tagged

    cfg = tmp_path / "procbot.toml"
    head = f'[procbot]\nstate_dir = "{tmp_path / "st"}"\n'
    prog = ('[[program]]\nname = "api"\ncommand = ["{py}", "-c", "import time  # twin-reload\\ntime.sleep(3600)"]\n'
            'stop_timeout = 1\n')
    cfg.write_text(head + prog.format(py=PY))
    app = App(load_config(cfg), with_adapters=False, console_events=False)
    await app.start()
    try:
        cfg.write_text(head + prog.format(py=PY) + 'group = "g"\n')
        await asyncio.gather(app.reload(), app.reload())
        await wait_for(lambda: app.supervisor.state("api").state.is_up)
        assert count_tagged("twin-reload") == 1
    finally:
        await app.stop()


async def test_a_stale_pidfile_naming_a_reused_pid_is_not_taken_for_the_program(make_app, tmp_path):
    newcomer = subprocess.Popen(sleeper("resil-newcomer"))
    try:
        pidfile = tmp_path / "svc.pid"
        pidfile.write_text(f"{newcomer.pid}\n")
        old = time.time() - 3600
        os.utime(pidfile, (old, old))  # written an hour before the process holding that pid started
        app = await make_app(watch=[{"name": "svc", "pidfile": str(pidfile)}])
        st = app.supervisor.state("svc")
        assert st.state is State.MISSING
        assert "stale pidfile" in st.message
    finally:
        newcomer.kill()
        newcomer.wait()
