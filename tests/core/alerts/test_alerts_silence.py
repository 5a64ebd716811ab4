"""Silences: matching alerts are recorded, not posted; when a silence ends only a still-open incident is posted."""

from __future__ import annotations

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


async def silence(rig, text: str) -> None:  # type: ignore[no-untyped-def]
    reply = await rig.app.dispatcher.handle(text, operator())
    assert reply.ok, reply.text


async def test_a_silenced_program_crash_is_recorded_but_not_posted(make_app):
    async with alert_rig(make_app, [alert_program("web", min_uptime=30)], permissions=OPERATOR_GRANTS) as rig:
        await silence(rig, "silence web 1h deploying")
        await wait_logged(rig.app, "web", "starting")
        await rig.kill("web")
        await wait_for(lambda: rig.app.supervisor.state("web").state.value == "starting"
                       and rig.app.supervisor.state("web").restarts == 1)
        await rig.settle()

        assert rig.rec.messages == []
        assert len(await incident_rows(rig.app)) == 1


async def test_a_silence_on_a_group_covers_its_programs(make_app):
    progs = [alert_program("web", min_uptime=30, group="front")]
    async with alert_rig(make_app, progs, permissions=OPERATOR_GRANTS) as rig:
        await silence(rig, "silence group:front 1h")
        await wait_logged(rig.app, "web", "starting")
        await rig.kill("web")
        await wait_for(lambda: rig.app.supervisor.state("web").restarts == 1)
        await rig.settle()
        assert rig.rec.messages == []


async def test_when_a_silence_expires_a_still_open_incident_is_posted_once(make_app):
    clock = FakeClock()
    async with alert_rig(make_app, [alert_program("web", restart="never")], clock=clock,
                         permissions=OPERATOR_GRANTS) as rig:
        await silence(rig, "silence web 1h")
        await wait_logged(rig.app, "web", "starting")
        await rig.kill("web")
        await wait_for(lambda: rig.app.supervisor.state("web").state.value == "exited")
        await rig.settle()
        await rig.tick()
        assert rig.rec.messages == []

        clock.advance(3601)
        await rig.tick()
        await rig.tick()

        [msg] = rig.rec.messages
        assert msg.reply.title == "web crashed on testhost"
        assert msg.reply.data["state"] == "open"


async def test_when_a_silence_expires_after_the_program_recovered_nothing_is_posted(make_app):
    clock = FakeClock()
    async with alert_rig(make_app, [alert_program("web", min_uptime=0.2)], clock=clock,
                         permissions=OPERATOR_GRANTS) as rig:
        await silence(rig, "silence web 1h")
        await rig.wait_running("web")
        await rig.kill("web")
        await wait_for(lambda: rig.app.supervisor.state("web").restarts == 1)
        await rig.wait_running("web")
        await rig.settle()

        clock.advance(3601)
        await rig.tick()

        assert rig.rec.messages == []
        [(_, _, resolved_at, _)] = await incident_rows(rig.app)
        assert resolved_at is not None


async def test_unsilencing_posts_the_open_incident_at_the_next_check(make_app):
    async with alert_rig(make_app, [alert_program("web", restart="never")], permissions=OPERATOR_GRANTS) as rig:
        await silence(rig, "silence web 2h")
        await wait_logged(rig.app, "web", "starting")
        await rig.kill("web")
        await wait_for(lambda: rig.app.supervisor.state("web").state.value == "exited")
        await rig.settle()

        await silence(rig, "unsilence web")
        await rig.tick()

        assert [m.reply.title for m in rig.rec.messages] == ["web crashed on testhost"]
