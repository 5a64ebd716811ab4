"""Health alerts end to end: a real HTTP program turning 503, a recording Messenger in place of Slack.

One alert per unhealthy episode (never one per failed probe), and its recovery in the alert's thread.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.process.states import State
from tests.alert_fixtures import alert_rig, incident_rows
from tests.core.health.health_fixtures import http_program, loopback_port
from tests.helpers import wait_for


async def test_a_server_turning_503_is_one_alert_one_restart_and_a_recovery_in_the_thread(make_app, tmp_path: Path):
    sick = tmp_path / "sick"
    with loopback_port() as port:
        async with alert_rig(make_app, [http_program("web", port, sick, heal_on_start=True)]) as rig:
            st = rig.app.supervisor.state("web")
            await wait_for(lambda: st.healthy is True)
            first = st.pid
            sick.touch()
            await wait_for(lambda: st.pid != first and st.healthy is True, timeout=20)
            await wait_for(lambda: any(m.reply.data.get("kind") == "recovery" for m in rig.rec.messages))
            await rig.settle()

            alerts = rig.rec.top_level()
            assert len(alerts) == 1
            alert = alerts[0]
            assert alert.reply.title == "web unhealthy on testhost"
            assert alert.reply.text == "web unhealthy: GET /healthz returned 503 three times, restarting."
            assert {f.name: f.value for f in alert.reply.fields}["Health"] == "GET /healthz returned 503 three times"
            recoveries = rig.rec.replies_to(alert.ref)
            assert [m.reply.data["kind"] for m in recoveries] == ["recovery"]
            assert alert.current.title == "web recovered on testhost"
            assert st.state is State.RUNNING and st.restarts == 1
            assert [(r[1], r[3]) for r in await incident_rows(rig.app)] == [("web", 1)]


async def test_on_unhealthy_alert_alerts_once_keeps_it_running_and_posts_healthy_again_in_the_thread(
        make_app, tmp_path: Path):
    sick = tmp_path / "sick"
    with loopback_port() as port:
        async with alert_rig(make_app, [http_program("web", port, sick, on_unhealthy="alert")]) as rig:
            st = rig.app.supervisor.state("web")
            await wait_for(lambda: st.healthy is True)
            pid = st.pid
            sick.touch()
            await wait_for(lambda: st.state is State.UNHEALTHY)
            await wait_for(lambda: rig.rec.messages)
            sick.unlink()
            await wait_for(lambda: st.state is State.RUNNING)
            await wait_for(lambda: any(m.reply.data.get("kind") == "recovery" for m in rig.rec.messages))
            await rig.settle()

            (alert,) = rig.rec.top_level()
            assert "keeps running" in alert.reply.text
            (recovery,) = rig.rec.replies_to(alert.ref)
            assert "Healthy again: GET /healthz returned 200" in recovery.reply.text
            assert st.pid == pid and st.restarts == 0


async def test_through_real_slack_the_unhealthy_alert_is_one_post_and_its_recovery_a_thread_reply(
        make_app, tmp_path: Path):
    from tests.alert_fixtures import slack_alert_rig

    sick = tmp_path / "sick"
    with loopback_port() as port:
        async with slack_alert_rig(make_app, [http_program("web", port, sick, heal_on_start=True)]) as rig:
            st = rig.app.supervisor.state("web")
            await wait_for(lambda: st.healthy is True, timeout=20)
            first = st.pid
            sick.touch()
            await wait_for(lambda: st.pid != first and st.healthy is True, timeout=20)
            await rig.fake.wait_for(lambda: [m for m in rig.fake.messages.values() if m.thread_ts], timeout=20)
            await rig.settle()

            posts = list(rig.fake.messages.values())
            (alert,) = [m for m in posts if m.thread_ts is None]
            (reply,) = [m for m in posts if m.thread_ts is not None]
            assert alert.channel == "CALERTS" and "web recovered on testhost" in alert.text  # edited in place
            assert reply.thread_ts == alert.ts and "running again" in reply.text
            posted = rig.fake.calls_to("chat.postMessage")
            assert len(posted) == 2
            assert "web unhealthy: GET /healthz returned 503 three times, restarting." in json.dumps(posted[0].args)
