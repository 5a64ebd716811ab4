"""kill -9 of a front daemon loses no alert: the durable consumer lives on the server.

A real `procbot run` front (Slack through the fake Slack, real slack-bolt) is killed
with SIGKILL; a host's program crashes while no front runs; the host publishes and
JetStream stores it. The restarted front's consumer picks it up where the server
kept it, and the alert reaches Slack once.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from tests.alert_fixtures import alert_program
from tests.daemon_harness import Daemon
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.helpers import wait_for

ROUTE = {"route": [{"match": ["*"], "to": ["slack:CALERTS"]}]}


def front_config(tmp: Path, nats_url: str, api_url: str) -> Path:
    d = tmp / "front-1"
    d.mkdir()
    cfg = d / "procbot.toml"
    cfg.write_text('[procbot]\nstate_dir = "state"\n'
                   f'[cluster]\nurl = "{nats_url}"\nhost = "front-1"\nrole = "front"\n'
                   'heartbeat_interval = 0.2\nheartbeat_ttl = 1.0\n'
                   f'[slack]\napi_url = "{api_url}"\n'
                   '[[alerts.route]]\nmatch = ["*"]\nto = ["slack:CALERTS"]\n')
    return cfg


def worker_alerts(fake: FakeSlack) -> list:
    return [c for c in fake.calls_to("chat.postMessage")
            if c.args.get("channel") == "CALERTS" and "worker" in repr(c.args) and not c.args.get("thread_ts")]


async def test_a_front_killed_with_sigkill_loses_no_alert_of_the_fleet(make_member, nats_server, tmp_path):
    async with FakeSlack() as fake:
        env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
        cfg = front_config(tmp_path, nats_server.url, fake.api_url)
        front = Daemon(cfg, env=env)
        try:
            await fake.wait_socket(timeout=15)  # the front is up: its durable consumer exists on the server
            host_app, _ = await make_member("host-2", alerting=True, alerts=ROUTE,
                                               programs=[alert_program("worker")])
            worker = host_app.supervisor.state("worker")
            await wait_for(lambda: worker.state.value == "running")

            front.kill9()
            first = worker.pid
            os.kill(first, signal.SIGKILL)  # crashes while no front runs
            await wait_for(lambda: host_app.messengers["slack"].published >= 1, timeout=15)  # stored by JetStream
            assert worker_alerts(fake) == []

            front = Daemon(cfg, env=env)
            await wait_for(lambda: len(worker_alerts(fake)) == 1, timeout=20)
            assert len(worker_alerts(fake)) == 1
            assert "host-2" in repr(worker_alerts(fake)[0].args)
        finally:
            await asyncio.to_thread(front.stop)
