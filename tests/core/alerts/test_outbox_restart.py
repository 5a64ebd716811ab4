"""An alert still in the outbox when procbot goes away is delivered once by the next run, never twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from pathlib import Path

from bot.extensions import install_extensions
from core.errors import DeliveryError
from tests.alert_fixtures import alert_program, alert_rig
from tests.conftest import PY
from tests.daemon_harness import Daemon, status_json, write_config
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.helpers import kill_tagged, reserved_port, unique_tag, wait_for

CODE = "import time\nprint('web up', flush=True)\nwhile True: time.sleep(3600)"


async def test_an_alert_queued_when_procbot_stops_is_delivered_once_by_the_next_run(make_app, tmp_path: Path):
    tag = unique_tag("outbox-web")
    prog = alert_program("web", min_uptime=0.3)
    prog["command"][-1] += f"  # {tag}"
    try:
        await _queued_then_delivered_once(make_app, tmp_path / "state", prog)
    except BaseException:
        kill_tagged(tag)  # the program is left running on purpose between runs: never beyond a failed test
        raise


async def _queued_then_delivered_once(make_app, state: Path, prog) -> None:  # type: ignore[no-untyped-def]
    async with alert_rig(make_app, [prog], state_dir=state) as first:
        first.rec.fail_with.extend([DeliveryError("connection refused", retryable=True)] * 10000)
        await first.wait_running("web")
        await first.kill("web")
        await wait_for(lambda: first.rec.calls >= 1)
        await first.app.stop(stop_programs=False)  # procbot goes; the program stays, as after a crash
    [incident] = await _incident_ids(state)

    async with alert_rig(make_app, [prog], state_dir=state) as second:
        await second.wait_running("web")
        await second.settle()
        [alert] = second.rec.top_level()
        assert alert.reply.data["incident"] == incident
        await second.app.stop(stop_programs=False)

    async with alert_rig(make_app, [prog], state_dir=state) as third:
        await third.settle()
        assert third.rec.messages == []
    assert await _incident_ids(state) == [incident]


async def _incident_ids(state: Path) -> list[int]:
    def read() -> list[int]:
        with sqlite3.connect(state / "procbot.db") as db:
            return [r[0] for r in db.execute("SELECT id FROM incidents ORDER BY id")]

    return await asyncio.to_thread(read)


def _pending_tried(db_path: Path) -> int:
    try:
        with sqlite3.connect(db_path, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND attempts >= 1").fetchone()[0]
    except sqlite3.Error:
        return 0


async def test_procbot_killed_with_an_alert_in_the_outbox_delivers_it_once_after_restart(make_app, tmp_path: Path):
    """A real ``procbot run`` whose Slack is unreachable is SIGKILLed; the next run delivers the alert."""
    tag = unique_tag("outbox-daemon-web")
    try:
        await _killed_then_delivered_once(make_app, tmp_path, CODE + f"  # {tag}")
    except BaseException:
        kill_tagged(tag)  # a SIGKILLed daemon leaves its program behind: never beyond a failed test
        raise


async def _killed_then_delivered_once(make_app, tmp_path: Path, code: str) -> None:  # type: ignore[no-untyped-def]
    with reserved_port() as dead_port:  # refuses connections, and stays ours until the daemon is gone
        cfg = write_config(tmp_path, f"""
[slack]
api_url = "http://127.0.0.1:{dead_port}/api/"
[[program]]
name = "web"
command = [{json.dumps(PY)}, "-c", {json.dumps(code)}]
min_uptime = 0.3
[[alerts.route]]
to = ["slack:CALERTS"]
""")
        env = dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN)
        daemon = Daemon(cfg, env)
        try:
            await asyncio.to_thread(daemon.wait_ready, 1)
            pid = (await asyncio.to_thread(status_json, cfg))["web"]["pid"]
            os.kill(pid, signal.SIGKILL)
            await wait_for(lambda: _pending_tried(tmp_path / "state" / "procbot.db") == 1, timeout=15)
        finally:
            daemon.kill9()

    async with FakeSlack() as fake:
        app = await make_app([{"name": "web", "command": [PY, "-c", code], "min_uptime": 0.3}],
                             state_dir=tmp_path / "state", start=False, with_adapters=True, environ=env,
                             slack={"api_url": fake.api_url}, alerts={"route": [{"to": ["slack:CALERTS"]}]})
        alerting = install_extensions(app, outbox_backoff=0.05)
        await app.start()
        await wait_for(lambda: app.supervisor.state("web").state.value == "running")
        await alerting.policy.settle()
        assert await alerting.outbox.drain(10)
        await app.stop(stop_programs=True)

        top = [m for m in fake.messages.values() if m.thread_ts is None]
        assert len(top) == 1 and "web" in top[0].text
        assert len(fake.calls_to("chat.postMessage")) == 2  # the alert, then its recovery in the thread
