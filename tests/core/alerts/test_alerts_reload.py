"""Alert grouping across a reload or a restart: the storm detector keeps what it has seen."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

from tests.alert_fixtures import AlertRig, RecordingMessenger, alert_program, alert_rig
from tests.helpers import wait_for


def reload_alerts(rig: AlertRig, **changes: object) -> None:
    """What App.reload does: the new config replaces the old one, and the policy reads it from there."""
    alerts = dataclasses.replace(rig.app.config.alerts, **changes)
    rig.app.config = dataclasses.replace(rig.app.config, alerts=alerts)


async def test_an_alert_held_for_grouping_is_still_posted_when_a_reload_changes_the_storm_rule(make_app):
    progs = [alert_program("a", min_uptime=30), alert_program("b", min_uptime=30)]
    settings = {"group_window": 10, "group_threshold": 3, "group_hold": 1.0}
    async with alert_rig(make_app, progs, alerts=settings) as rig:
        await wait_for(lambda: all(rig.app.supervisor.state(n).pid for n in ("a", "b")))
        os.kill(rig.pid("a"), signal.SIGKILL)
        await wait_for(lambda: len(rig.rec.top_level()) == 1)
        os.kill(rig.pid("b"), signal.SIGKILL)
        await wait_for(lambda: len(rig.alerting.policy.open_incidents()) == 2)

        reload_alerts(rig, group_window=30.0, group_threshold=4)
        await rig.settle()

        posted = {m.reply.data.get("program") for m in rig.rec.top_level()}
        assert posted == {"a", "b"}


async def test_failures_before_and_after_a_reload_that_changes_the_storm_rule_count_as_one_storm(make_app):
    names = ["a", "b", "c"]
    settings = {"group_window": 60, "group_threshold": 3, "group_hold": 3.0}
    async with alert_rig(make_app, [alert_program(n, min_uptime=30) for n in names], alerts=settings) as rig:
        await wait_for(lambda: all(rig.app.supervisor.state(n).pid for n in names))
        os.kill(rig.pid("a"), signal.SIGKILL)
        await wait_for(lambda: len(rig.rec.top_level()) == 1)
        os.kill(rig.pid("b"), signal.SIGKILL)
        await wait_for(lambda: len(rig.alerting.policy.open_incidents()) == 2)

        reload_alerts(rig, group_window=120.0)
        os.kill(rig.pid("c"), signal.SIGKILL)
        await wait_for(lambda: rig.rec.of_kind("group"))
        await rig.settle()

        [group] = rig.rec.of_kind("group")
        assert set(group.current.data["programs"]) == {"b", "c"}
        assert [m.reply.data.get("program") for m in rig.rec.of_kind("alert")] == ["a"]


async def test_a_program_failing_soon_after_a_restart_joins_the_storm_group_still_open(make_app, tmp_path: Path):
    names = ["a", "b", "c", "d"]
    progs = [alert_program(n, min_uptime=30) for n in names]
    settings = {"group_window": 120, "group_threshold": 2, "group_hold": 0.2}
    state, rec = tmp_path / "state", RecordingMessenger()  # one Slack for both runs
    async with alert_rig(make_app, progs, alerts=settings, state_dir=state, rec=rec) as first:
        await wait_for(lambda: all(first.app.supervisor.state(n).pid for n in names))
        for n in ("a", "b", "c"):
            os.kill(first.pid(n), signal.SIGKILL)
        await wait_for(lambda: all(first.app.supervisor.state(n).restarts >= 1 for n in ("a", "b", "c")))
        await first.settle()
        await first.app.stop(stop_programs=True)
    [group] = rec.of_kind("group")
    [alone] = [m.reply.data["program"] for m in rec.of_kind("alert")]
    grouped = set(group.current.data["programs"])
    assert grouped | {alone} == {"a", "b", "c"}

    async with alert_rig(make_app, progs, alerts=settings, state_dir=state, rec=rec) as second:
        await wait_for(lambda: second.app.supervisor.state("d").pid is not None)
        os.kill(second.pid("d"), signal.SIGKILL)
        await wait_for(lambda: second.app.supervisor.state("d").restarts >= 1)
        await second.settle()

        assert [m.reply.data["program"] for m in rec.of_kind("alert")] == [alone]
        assert set(group.current.data["programs"]) == grouped | {"d"}
