"""Each probe against a real local thing: an aiohttp server, a closed port, real commands."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from core.health.probes import CommandProbe, HttpProbe, TcpProbe
from tests.helpers import alive, reserved_port, wait_for

PY = sys.executable
BOUND = 30.0  # a probe that does not end by then is a failed test, not a hung one


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """A real aiohttp server on 127.0.0.1: /status answers the code in ``codes["status"]``; /hang never answers."""
    codes = {"status": 200}
    stop = asyncio.Event()

    async def status(_: web.Request) -> web.Response:
        return web.Response(status=codes["status"], headers={"Location": "http://192.0.2.1/"})

    async def hang(_: web.Request) -> web.Response:
        await stop.wait()
        return web.Response()

    app = web.Application()
    app.router.add_get("/status", status)
    app.router.add_get("/hang", hang)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", codes
    stop.set()
    await runner.cleanup()


async def check(probe) -> object:  # type: ignore[no-untyped-def]
    try:
        return await asyncio.wait_for(probe.check(), BOUND)
    finally:
        await probe.close()


@pytest.mark.parametrize(("code", "ok"), [(200, True), (204, True), (302, True), (404, False), (503, False)])
async def test_http_is_healthy_on_2xx_and_3xx_and_names_the_status_otherwise(server, code, ok):
    base, codes = server
    codes["status"] = code
    result = await check(HttpProbe(f"{base}/status?token=s3cret", timeout=5))
    assert (result.ok, result.detail) == (ok, f"GET /status returned {code}")  # no query in the words


async def test_a_hanging_http_endpoint_fails_at_the_timeout(server):
    base, _ = server
    result = await check(HttpProbe(f"{base}/hang", timeout=0.3))
    assert (result.ok, result.detail) == (False, "GET /hang timed out after 0.3s")


async def test_http_to_a_closed_port_says_refused():
    with reserved_port() as port:
        result = await check(HttpProbe(f"http://127.0.0.1:{port}/healthz", timeout=5))
    assert (result.ok, result.detail) == (False, "GET /healthz failed: refused connection")


async def test_tcp_to_a_closed_port_says_refused_and_to_a_listening_one_is_healthy(server):
    with reserved_port() as port:
        closed = await check(TcpProbe(f"127.0.0.1:{port}", timeout=5))
    assert (closed.ok, closed.detail) == (False, f"tcp 127.0.0.1:{port} refused connection")
    open_port = server[0].rsplit(":", 1)[1]
    assert (await check(TcpProbe(f"127.0.0.1:{open_port}", timeout=5))).ok


@pytest.mark.parametrize(("code", "ok", "detail"), [(0, True, "command python exited 0"),
                                                    (2, False, "command python exited 2")])
async def test_a_command_is_healthy_on_exit_0_and_names_its_exit_code_otherwise(code, ok, detail):
    probe = CommandProbe(["python", "-c", f"import sys; sys.exit({code})"], timeout=10, env=os.environ, cwd=None)
    result = await check(probe)
    assert (result.ok, result.detail) == (ok, detail)


async def test_a_command_that_hangs_is_killed_at_the_timeout_with_what_it_started(tmp_path: Path):
    pids = tmp_path / "pids"
    code = ("import os, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'])\n"
            f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
            "time.sleep(3600)")
    result = await check(CommandProbe([PY, "-c", code], timeout=1.0, env=os.environ, cwd=None))
    assert not result.ok and result.detail.endswith("timed out after 1s (killed)")
    leader, child = map(int, pids.read_text().split())
    assert not alive(leader)
    await wait_for(lambda: not alive(child))  # killed with its group; reparented, so reaped by init


async def test_a_cancelled_command_check_leaves_no_process(tmp_path: Path):
    pidfile = tmp_path / "pid"
    code = f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(3600)"
    probe = CommandProbe([PY, "-c", code], timeout=600, env=os.environ, cwd=None)
    task = asyncio.create_task(probe.check())
    await wait_for(lambda: pidfile.exists() and pidfile.read_text() != "")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not alive(int(pidfile.read_text()))


async def test_a_commands_output_is_bounded_and_masked_and_never_in_the_detail():
    code = "print('x' * 100000); print('password=hunter2hunter2'); raise SystemExit(1)"
    result = await check(CommandProbe([PY, "-c", code], timeout=10, env=os.environ, cwd=None))
    assert result.detail == "command " + Path(PY).name + " exited 1"
    assert "hunter2" not in result.output and "password=" in result.output
    assert len(result.output) <= 3 * 200 + 2


async def test_a_command_that_cannot_start_says_why():
    result = await check(CommandProbe(["/no/such/check"], timeout=5, env=os.environ, cwd=None))
    assert (result.ok, result.detail) == (False, "command check could not start: no such file or directory")
