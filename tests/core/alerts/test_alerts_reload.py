"""Alert grouping across a reload: a changed storm rule must not lose an alert held for grouping."""

from __future__ import annotations

import os
import signal

from tests.alert_fixtures import alert_program, alert_rig
from tests.helpers import wait_for


async def test_an_alert_held_for_grouping_is_still_posted_when_a_reload_changes_the_storm_rule(make_app):
    progs = [alert_program("a", min_uptime=30), alert_program("b", min_uptime=30)]
    settings = {"group_window": 10, "group_threshold": 3, "group_hold": 1.0}
    async with alert_rig(make_app, progs, alerts=settings) as rig:
        await wait_for(lambda: all(rig.app.supervisor.state(n).pid for n in ("a", "b")))
        os.kill(rig.pid("a"), signal.SIGKILL)
        await wait_for(lambda: len(rig.rec.top_level()) == 1)
        os.kill(rig.pid("b"), signal.SIGKILL)
        await wait_for(lambda: any(i.held for i in rig.alerting.policy.open_incidents()))

        # what App.reload does: the new config replaces the old one, and the policy reads it from there
        alerts = rig.app.config.alerts.model_copy(update={"group_window": 30.0, "group_threshold": 4})
        rig.app.config = rig.app.config.model_copy(update={"alerts": alerts})
        await rig.settle()

        posted = {m.reply.data.get("program") for m in rig.rec.top_level()}
        assert posted == {"a", "b"}
