"""Crash alerts end to end: real processes, real SQLite, a recording Messenger in place of Slack."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from core.alerts import messages as af
from core.alerts.incidents import Incident
from core.alerts.routes import Router
from core.process.oom import OomWatch
from core.spec import Route
from tests.alert_fixtures import (
    OPERATOR_GRANTS,
    FakeClock,
    alert_program,
    alert_rig,
    incident_rows,
    operator,
    wait_logged,
)
from tests.helpers import wait_for

PY = sys.executable


def fields_of(reply) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f.name: f.value for f in reply.fields}


async def test_sigkill_produces_exactly_one_alert_with_exit_runtime_next_action_logs_and_buttons(make_app):
    async with alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        await wait_logged(rig.app, "web", "web starting up")
        await rig.kill("web")
        await wait_for(lambda: rig.rec.messages)
        await rig.settle()

        assert len(rig.rec.messages) == 1
        sent = rig.rec.messages[0]
        alert = sent.current
        assert sent.channel == "CALERTS" and sent.thread_ref is None
        assert alert.title == "web crashed on testhost"
        f = fields_of(alert)
        assert f["Program"] == "web" and f["Host"] == "testhost"
        assert f["Exit"] == "killed by SIGKILL"
        assert "Ran for" in f and f["Restarts"].startswith("0")
        assert f["Next"].startswith("restart")
        assert "web starting up" in (alert.code or "")
        assert [(b.label, b.value) for b in alert.buttons] == [
            ("Restart", "cmd:restart web"), ("Logs", "cmd:logs web 50"), ("Silence 1h", "cmd:silence web 1h")]
        assert len(await incident_rows(rig.app)) == 1


async def test_a_program_matching_no_route_alerts_on_the_console(make_app):
    routes = {"route": [{"match": ["db-*"], "to": ["slack:CDB"]}]}
    async with alert_rig(make_app, [alert_program("web", min_uptime=30)], route_to="slack:CDB",
                         alerts=routes, platform="console") as rig:
        await wait_logged(rig.app, "web", "starting")
        await rig.kill("web")
        await wait_for(lambda: rig.rec.messages)
        await rig.settle()
        assert [m.reply.title for m in rig.rec.messages] == ["web crashed on testhost"]


def test_routes_use_the_first_matching_entry_and_fan_out_to_its_destinations():
    router = Router([
        Route(match=["group:db"], to=["slack:CDB"]),
        Route(match=["web-*", "api"], to=["discord:42", "console", "discord:42"]),
    ])
    assert router.destinations("web-1", "db") == ("slack:CDB",)          # first match wins
    assert router.destinations("web-1", None) == ("discord:42", "console")  # fan-out, repeats dropped
    assert router.destinations("worker", None) == ("console",)          # the default route


async def test_restart_button_restarts_the_program_as_the_operator_who_pressed_it(make_app):
    async with alert_rig(make_app, [alert_program("web", min_uptime=30)], permissions=OPERATOR_GRANTS) as rig:
        await wait_logged(rig.app, "web", "starting")
        await rig.kill("web")
        await wait_for(lambda: rig.rec.messages)
        await wait_for(lambda: rig.app.supervisor.state("web").state.value == "starting")
        before = rig.pid("web")
        restart = rig.rec.messages[0].reply.buttons[0]

        reply = await rig.app.dispatcher.press(restart.value, operator("U0OP"))

        assert reply.ok, reply.text
        assert rig.pid("web") != before
        audit = await rig.app.registry.audit_rows(1)
        assert (audit[0].user_id, audit[0].command, audit[0].outcome) == ("U0OP", "restart web", "ok")


async def test_restart_button_is_refused_for_a_viewer_and_the_refusal_is_audited(make_app):
    async with alert_rig(make_app, [alert_program("web", min_uptime=30)], permissions=OPERATOR_GRANTS) as rig:
        await wait_logged(rig.app, "web", "starting")
        await rig.kill("web")
        await wait_for(lambda: rig.rec.messages)
        await wait_for(lambda: rig.app.supervisor.state("web").state.value == "starting")
        before = rig.pid("web")

        reply = await rig.app.dispatcher.press(rig.rec.messages[0].reply.buttons[0].value, operator("U0VIEW"))

        assert not reply.ok and reply.error_code == "unauthorized"
        assert rig.pid("web") == before
        audit = await rig.app.registry.audit_rows(1)
        assert (audit[0].user_id, audit[0].outcome) == ("U0VIEW", "refused")


async def test_a_flapping_program_killed_ten_times_is_one_message_edited_in_place(make_app):
    prog = alert_program("flappy", min_uptime=30, give_up={"failures": 50, "window": 600})
    async with alert_rig(make_app, [prog]) as rig:
        st = rig.app.supervisor.state("flappy")
        for _ in range(10):
            await wait_for(lambda: st.state.value == "starting" and st.pid is not None)
            pid = st.pid
            await rig.kill("flappy")
            await wait_for(lambda p=pid: st.pid != p or st.state.value != "starting")
        await rig.settle()

        assert len(rig.rec.messages) == 1, [m.reply.title for m in rig.rec.messages]
        msg = rig.rec.messages[0]
        assert 1 <= len(msg.edits) <= 9  # queued edits coalesce; never more than one per crash
        assert msg.current.title.startswith("flappy crashed 10 times in ")
        assert fields_of(msg.current)["Crashes"].startswith("10 since")
        assert [r[3] for r in await incident_rows(rig.app)] == [10]


async def test_recovery_is_posted_in_the_alert_thread_and_the_alert_is_marked_resolved(make_app):
    async with alert_rig(make_app, [alert_program("web", min_uptime=0.3)]) as rig:
        await rig.wait_running("web")
        await rig.kill("web")
        await wait_for(lambda: rig.rec.messages)
        await rig.wait_running("web")
        await rig.settle()

        [alert] = rig.rec.top_level()
        [recovery] = rig.rec.replies_to(alert.ref)
        assert recovery.reply.title == "web is running again on testhost"
        assert alert.current.title == "web recovered on testhost"
        assert [b.label for b in alert.current.buttons] == ["Logs"]
        [(_, _, resolved_at, _)] = await incident_rows(rig.app)
        assert resolved_at is not None


async def test_a_crash_soon_after_recovery_reopens_the_same_alert(make_app):
    async with alert_rig(make_app, [alert_program("web", min_uptime=0.2)]) as rig:
        for _ in range(2):
            await rig.wait_running("web")
            await rig.kill("web")
            await wait_for(lambda: rig.app.supervisor.state("web").state.value != "running")
        await rig.wait_running("web")
        await rig.settle()

        [alert] = rig.rec.top_level()
        assert len(rig.rec.replies_to(alert.ref)) == 1  # the recovery reply is edited, not reposted
        assert alert.current.data["crashes"] == 2
        assert len(await incident_rows(rig.app)) == 1


async def test_giving_up_updates_the_alert_to_say_so(make_app):
    prog = alert_program("web", min_uptime=30, give_up={"failures": 2, "window": 600})
    async with alert_rig(make_app, [prog]) as rig:
        st = rig.app.supervisor.state("web")
        await wait_for(lambda: st.pid is not None)
        await rig.kill("web")
        await wait_for(lambda: st.state.value == "starting" and rig.rec.messages)
        await rig.kill("web")
        await wait_for(lambda: st.state.value == "fatal")
        await rig.settle()

        [msg] = rig.rec.messages
        assert msg.current.title.startswith("web crashed 2 times in ")
        assert msg.current.title.endswith("procbot gave up restarting it on testhost")
        assert fields_of(msg.current)["Next"] == "gave up"


async def test_a_program_that_cannot_start_is_alerted_with_the_reason(make_app):
    prog = {"name": "ghost", "command": ["/nonexistent/bin/ghostd"]}
    async with alert_rig(make_app, [prog]) as rig:
        await rig.settle()
        [msg] = rig.rec.messages
        assert msg.reply.title == "ghost failed to start on testhost"
        assert "not found" in fields_of(msg.reply)["Exit"]


async def test_secret_looking_values_in_the_log_tail_are_masked(make_app):
    code = "import time\nprint('connecting with password=hunter2 to db', flush=True)\ntime.sleep(3600)"
    prog = {"name": "leaky", "command": [PY, "-c", code], "min_uptime": 30}
    async with alert_rig(make_app, [prog]) as rig:
        await wait_logged(rig.app, "leaky", "hunter2")
        await rig.kill("leaky")
        await wait_for(lambda: rig.rec.messages)
        code_block = rig.rec.messages[0].reply.code or ""
        assert "password=****" in code_block and "hunter2" not in code_block


async def test_sigkill_while_the_oom_kill_counter_moves_is_reported_as_out_of_memory(make_app, tmp_path: Path):
    counter = tmp_path / "memory.events"
    counter.write_text("low 0\noom 0\noom_kill 3\n")
    async with alert_rig(make_app, [alert_program("hog", min_uptime=30)]) as rig:
        rig.alerting.policy.intake.oom = OomWatch([counter])
        await wait_logged(rig.app, "hog", "starting")
        counter.write_text("low 0\noom 1\noom_kill 4\n")  # what the kernel does when its OOM killer strikes
        await rig.kill("hog")
        await wait_for(lambda: rig.rec.messages)
        assert fields_of(rig.rec.messages[0].reply)["Exit"] == "killed by SIGKILL: out of memory?"


def test_exit_descriptions_name_the_signal_the_code_or_the_oom_guess():
    inc = Incident("web", 0.0, 0.0, signal="SIGKILL")
    assert af.exit_description(inc) == "killed by SIGKILL"
    inc.oom = True
    assert af.exit_description(inc) == "killed by SIGKILL: out of memory?"
    assert af.exit_description(Incident("web", 0.0, 0.0, exit_code=3)) == "exit code 3"


async def test_many_programs_failing_together_become_one_grouped_alert(make_app):
    names = [f"w{i:02d}" for i in range(12)]
    progs = [alert_program(n, min_uptime=30) for n in names]
    async with alert_rig(make_app, progs, alerts={"group_window": 10, "group_threshold": 5}) as rig:
        await wait_for(lambda: all(rig.app.supervisor.state(n).pid for n in names))
        for n in names:
            os.kill(rig.pid(n), signal.SIGKILL)
        # every crash seen (a restart follows each CRASHED event), then every held alert and edit settled
        await wait_for(lambda: all(rig.app.supervisor.state(n).restarts >= 1 for n in names))
        await wait_for(lambda: any(m.reply.data.get("kind") == "group" for m in rig.rec.messages))
        await rig.settle()

        top = rig.rec.top_level()
        assert len(top) <= 3, [m.reply.title for m in top]
        [group] = rig.rec.of_kind("group")
        alone = {m.reply.data["program"] for m in top if m.reply.data.get("kind") == "alert"}
        assert set(group.current.data["programs"]) | alone == set(names)
        assert len(await incident_rows(rig.app)) == 12


async def test_a_program_still_down_is_announced_again_after_the_repeat_interval_not_before(make_app):
    clock = FakeClock()
    prog = alert_program("web", restart="never")
    async with alert_rig(make_app, [prog], clock=clock, alerts={"repeat_interval": 3600}) as rig:
        await wait_logged(rig.app, "web", "starting")
        await rig.kill("web")
        await wait_for(lambda: rig.rec.messages)
        await rig.settle()
        clock.advance(3500)
        await rig.tick()
        assert len(rig.rec.top_level()) == 1

        clock.advance(200)
        await rig.tick()
        await rig.tick()

        titles = [m.reply.title for m in rig.rec.top_level()]
        assert titles == ["web crashed on testhost", "Still failing: web on testhost (reminder)"]


async def test_stopping_a_failing_program_by_hand_resolves_its_alert_without_a_recovery(make_app):
    prog = alert_program("web", min_uptime=30, backoff={"initial": 60, "factor": 1, "max": 60})
    async with alert_rig(make_app, [prog], permissions=OPERATOR_GRANTS) as rig:
        await wait_logged(rig.app, "web", "starting")
        await rig.kill("web")
        await wait_for(lambda: rig.app.supervisor.state("web").state.value == "backoff")
        assert (await rig.app.dispatcher.handle("stop web", operator())).ok
        await rig.settle()
        await rig.tick()

        [alert] = rig.rec.messages
        assert alert.current.title == "web on testhost: stopped by slack:u0op"
        assert rig.rec.replies_to(alert.ref) == []


async def test_an_alert_cleared_by_the_restart_button_gets_a_recovery_not_a_stop(make_app):
    async with alert_rig(make_app, [alert_program("web", min_uptime=0.3, restart="never")],
                         permissions=OPERATOR_GRANTS) as rig:
        await rig.wait_running("web")
        await rig.kill("web")
        await wait_for(lambda: rig.app.supervisor.state("web").state.value == "exited" and rig.rec.messages)
        assert (await rig.app.dispatcher.press("cmd:restart web", operator())).ok
        await rig.tick()
        await rig.wait_running("web")
        await rig.settle()

        [alert] = rig.rec.top_level()
        assert alert.current.title == "web recovered on testhost"
        assert [r.reply.title for r in rig.rec.replies_to(alert.ref)] == ["web is running again on testhost"]
