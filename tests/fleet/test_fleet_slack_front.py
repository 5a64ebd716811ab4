"""The last hop of a fleet alert: the front's real slack-bolt client posting to the fake Slack."""

from __future__ import annotations

import json
import os
import signal

from adapters.slack.adapter import SlackAdapter
from tests.alert_fixtures import alert_program
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.fleet.test_fleet_alerts import outbox_of
from tests.helpers import wait_for

ROUTE = {"route": [{"match": ["*"], "to": ["slack:CALERTS"]}]}


def worker_posts(fake: FakeSlack) -> list:
    """Top-level chat.postMessage calls about worker (a thread reply carries thread_ts)."""
    return [c for c in fake.calls_to("chat.postMessage")
            if not c.args.get("thread_ts") and "worker" in json.dumps(c.args)]


async def test_a_crash_on_a_host_is_one_message_at_the_fake_slack_naming_the_host(make_member):
    async with FakeSlack() as fake:
        environ = dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN,
                       SLACK_SIGNING_SECRET=SIGNING_SECRET)
        front_app, _ = await make_member("front-1", role="front", alerting=True, alerts=ROUTE, environ=environ,
                                         with_adapters=True, slack={"api_url": fake.api_url})
        adapter = front_app.messengers["slack"]
        assert isinstance(adapter, SlackAdapter)
        await adapter.wait_connected(10)
        host_app, _ = await make_member("host-3", alerting=True, alerts=ROUTE, programs=[alert_program("worker")])
        worker = host_app.supervisor.state("worker")
        await wait_for(lambda: worker.state.value == "running")

        os.kill(worker.pid, signal.SIGKILL)
        await wait_for(lambda: len(worker_posts(fake)) == 1, timeout=15)
        assert await outbox_of(host_app).drain(5) and await outbox_of(front_app).drain(5)

        [post] = worker_posts(fake)
        assert post.args.get("channel") == "CALERTS"
        assert "host-3" in json.dumps(post.args)
