"""What a previous run left half done is finished by the next one: every open incident gets its alert."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from core.alerts.incidents import AlertGroup, Incident
from tests.alert_fixtures import OPERATOR_GRANTS, RecordingMessenger, alert_program, alert_rig, operator
from tests.helpers import wait_for


async def test_an_alert_held_for_grouping_when_procbot_stopped_is_posted_once_a_silence_ends(make_app, tmp_path):
    progs = [alert_program(n, min_uptime=30) for n in ("a", "b")]
    settings = {"group_window": 60, "group_threshold": 3, "group_hold": 60.0}
    state, rec = tmp_path / "state", RecordingMessenger()
    async with alert_rig(make_app, progs, alerts=settings, state_dir=state, rec=rec,
                         permissions=OPERATOR_GRANTS) as first:
        await wait_for(lambda: all(first.app.supervisor.state(n).pid for n in ("a", "b")))
        os.kill(first.pid("a"), signal.SIGKILL)
        await wait_for(lambda: len(rec.top_level()) == 1)
        os.kill(first.pid("b"), signal.SIGKILL)
        await wait_for(lambda: any(i.held for i in first.alerting.policy.open_incidents()))
        assert (await first.app.dispatcher.handle("silence b 1h", operator())).ok
        await first.app.stop(stop_programs=True)  # the hold's timer goes with this run

    async with alert_rig(make_app, progs, alerts=settings, state_dir=state, rec=rec,
                         permissions=OPERATOR_GRANTS) as second:
        await second.settle()
        assert len(rec.top_level()) == 1
        assert (await second.app.dispatcher.handle("unsilence b", operator())).ok
        await second.tick()

        assert [m.reply.data["program"] for m in rec.of_kind("alert")] == ["a", "b"]


async def test_members_of_a_group_never_posted_before_procbot_stopped_are_each_posted_alone(make_app, tmp_path: Path):
    progs = [alert_program(n, min_uptime=30) for n in ("a", "b")]
    state = tmp_path / "state"
    async with alert_rig(make_app, progs, state_dir=state) as first:
        store, now = first.alerting.incidents, time.time()
        a = await store.create(Incident("a", now, now, destinations=["slack:CALERTS"], last_failure_at=now))
        b = await store.create(Incident("b", now, now, destinations=["slack:CALERTS"], last_failure_at=now))
        grp = await store.create_group(AlertGroup(now, now, ["slack:CALERTS"], members=[a.id, b.id]))
        b.group_id = grp.id  # procbot died after folding b into the group, before a
        await store.save(b)
        await first.app.stop(stop_programs=True)

    async with alert_rig(make_app, progs, state_dir=state) as second:
        await second.settle()

        assert sorted(m.reply.data["program"] for m in second.rec.top_level()) == ["a", "b"]
        assert second.rec.of_kind("group") == []
