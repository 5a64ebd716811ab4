"""restart_cron: a running program is restarted at its cron time in its time zone; a stopped one is left alone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.config_check import check
from bot.config_loader import load_config
from bot.extensions import install_extensions
from bot.restart_schedule import BY, job_id
from core.actor import Actor, CommandContext
from core.errors import ConfigProblems
from core.process.events import EventKind
from core.spec.instances import instance_name
from tests.alert_fixtures import alert_program, alert_rig
from tests.conftest import sleeper
from tests.helpers import wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
NIGHTLY = {"restart_cron": "0 4 * * *", "restart_cron_timezone": "Europe/Paris"}


def _paris(*args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo("Europe/Paris")).timestamp()


async def test_the_schedule_is_read_in_the_programs_time_zone(make_app):
    async with alert_rig(make_app, [alert_program("web", **NIGHTLY)]) as rig:
        restarts = rig.alerting.restarts
        assert restarts.next_fire_time("web", after=_paris(2026, 7, 1, 3, 59)) == _paris(2026, 7, 1, 4, 0)
        assert restarts.next_fire_time("web", after=_paris(2026, 12, 1, 4, 1)) == _paris(2026, 12, 2, 4, 0)


async def test_the_cron_job_restarts_a_running_program(make_app):
    async with alert_rig(make_app, [alert_program("web", **NIGHTLY)]) as rig:
        st = rig.app.supervisor.state("web")
        old = await rig.wait_running("web")
        events = rig.app.bus.subscribe()
        job = rig.alerting.restarts.scheduler.get_job(job_id("web"))
        await job.func(*job.args)  # what APScheduler calls at 4:00 in Paris
        await rig.alerting.restarts.settled()
        await wait_for(lambda: st.state.value == "running")
        assert st.pid != old and st.restarts == 1
        seen = [events.get_nowait() for _ in range(events.qsize())]
        assert [(e.kind, e.by) for e in seen if e.kind in (EventKind.STOPPED, EventKind.STARTED)] == [
            (EventKind.STOPPED, BY), (EventKind.STARTED, BY)]


async def test_the_cron_job_restarts_every_instance_of_a_program(make_app):
    async with alert_rig(make_app, [alert_program("web", instances=2, **NIGHTLY)]) as rig:
        names = [instance_name("web", i) for i in range(2)]
        old = {n: await rig.wait_running(n) for n in names}
        restarts = rig.alerting.restarts
        for n in names:  # one job each, as each instance is its own program
            job = restarts.scheduler.get_job(job_id(n))
            await job.func(*job.args)
        await restarts.settled()
        sup = rig.app.supervisor
        await wait_for(lambda: all(sup.state(n).state.value == "running" for n in names))
        assert all(sup.state(n).pid != old[n] and sup.state(n).restarts == 1 for n in names)


async def test_the_cron_job_leaves_a_stopped_program_stopped(make_app):
    async with alert_rig(make_app, [alert_program("web", **NIGHTLY)]) as rig:
        await rig.wait_running("web")
        await rig.app.supervisor.runner("web").stop("tester")
        assert await rig.alerting.restarts.fire("web") is False
        assert rig.app.supervisor.state("web").state.value == "stopped"


def _toml(extra: str = "") -> str:
    argv = ", ".join('"' + a.replace("\n", "\\n") + '"' for a in sleeper("cron-reload"))
    return f'[[program]]\nname = "web"\ncommand = [{argv}]\n{extra}'


async def test_reload_adds_and_removes_the_restart_jobs(tmp_path: Path):
    cfg = tmp_path / "procbot.toml"
    head = f'[procbot]\nstate_dir = "{tmp_path / "st"}"\n'
    cfg.write_text(head + _toml())
    app = App(load_config(cfg), with_adapters=False, console_events=False)
    alerting = install_extensions(app)
    await app.start()
    try:
        assert alerting.restarts.schedules == {}
        cfg.write_text(head + _toml('restart_cron = "30 2 * * 1-5"\nrestart_cron_timezone = "Asia/Tokyo"\n'))
        await app.reload()
        assert alerting.restarts.scheduler.get_job(job_id("web")) is not None
        assert alerting.restarts.schedules == {"web": ("30 2 * * 1-5", "Asia/Tokyo")}
        cfg.write_text(head + _toml())
        await app.reload()
        assert alerting.restarts.scheduler.get_job(job_id("web")) is None and alerting.restarts.schedules == {}
    finally:
        await app.stop()


@pytest.mark.parametrize(("extra", "key", "problem"), [
    ('restart_cron = "0 25 * * *"', "program[web].restart_cron", "not a valid cron expression"),
    ('restart_cron = "0 4 * *"', "program[web].restart_cron", "has 4 fields"),
    ('restart_cron = "0 4 * * *"\nrestart_cron_timezone = "Mars/Olympus"', "program[web].restart_cron_timezone",
     "unknown time zone"),
])
def test_check_config_refuses_a_bad_restart_cron_naming_its_key(tmp_path: Path, extra: str, key: str, problem: str):
    cfg = tmp_path / "procbot.toml"
    cfg.write_text(f'[procbot]\nstate_dir = "{tmp_path / "st"}"\n' + _toml(extra + "\n"))
    with pytest.raises(ConfigProblems) as e:
        check(cfg)
    assert f"{key}: " in str(e.value) and problem in str(e.value)
