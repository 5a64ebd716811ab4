"""Destinations that cannot edit or thread (a webhook): follow-up posts instead of edits, top-level posts."""

from __future__ import annotations

from typing import Any

from tests.alert_fixtures import AlertRig, RecordingMessenger, alert_program, alert_rig
from tests.helpers import wait_for


async def flap(rig: AlertRig, name: str, times: int) -> None:
    """Kill ``name`` ``times`` times, each time once its replacement is up."""
    st = rig.app.supervisor.state(name)
    for _ in range(times):
        await wait_for(lambda: st.state.value == "starting" and st.pid is not None)
        pid = st.pid
        await rig.kill(name)
        await wait_for(lambda p=pid: st.pid != p or st.state.value != "starting")


FLAPPY = alert_program("web", min_uptime=30, give_up={"failures": 50, "window": 600})


def titles(messages: list[Any]) -> list[str]:
    return [m.reply.title for m in messages]


async def test_a_flapping_program_gives_follow_up_posts_in_the_alert_thread_where_edits_are_impossible(make_app):
    async with alert_rig(make_app, [FLAPPY], rec=RecordingMessenger(can_edit=False)) as rig:
        await flap(rig, "web", 5)
        await rig.settle()

        [alert] = rig.rec.top_level()
        follow_ups = rig.rec.replies_to(alert.ref)
        assert all(m.edits == [] for m in rig.rec.messages)
        assert 1 <= len(follow_ups) <= 4  # one per crash after the first, fewer when queued ones coalesce
        assert follow_ups[-1].reply.title.startswith("web crashed 5 times in ")


async def test_recovery_is_a_top_level_post_where_the_destination_can_neither_edit_nor_thread(make_app):
    rec = RecordingMessenger(can_edit=False, can_thread=False)
    async with alert_rig(make_app, [alert_program("web", min_uptime=0.3)], rec=rec) as rig:
        await rig.wait_running("web")
        await rig.kill("web")
        await wait_for(lambda: rig.rec.messages)
        await rig.wait_running("web")
        await rig.settle()

        assert rig.rec.top_level() == rig.rec.messages
        assert all(m.edits == [] for m in rig.rec.messages)
        assert titles(rig.rec.messages) == ["web crashed on testhost", "web recovered on testhost",
                                            "web is running again on testhost"]


async def test_recovery_is_a_top_level_post_and_the_alert_is_still_edited_where_threads_are_impossible(make_app):
    rec = RecordingMessenger(can_thread=False)
    async with alert_rig(make_app, [alert_program("web", min_uptime=0.3)], rec=rec) as rig:
        await rig.wait_running("web")
        await rig.kill("web")
        await wait_for(lambda: rig.rec.messages)
        await rig.wait_running("web")
        await rig.settle()

        alert, recovery = rig.rec.messages
        assert rig.rec.top_level() == [alert, recovery]
        assert alert.current.title == "web recovered on testhost"
        assert recovery.reply.title == "web is running again on testhost"
