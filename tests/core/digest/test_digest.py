"""Digests: cron time in a time zone (clock injected), figures from a scripted history, catch-up, bad input."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.config_loader import config_from_dict
from bot.cron import next_fire, trigger
from bot.extensions import Alerting, install_extensions
from bot.schedule_check import digest_problems
from core.actor import Actor, CommandContext
from core.alerts.incidents import Incident
from core.alerts.messages import digest_reply
from core.errors import ConfigError
from core.store.registry import SampleRow
from core.store.rollup import SampleRollup
from tests.alert_fixtures import (
    FakeClock,
    RecordingMessenger,
    alert_program,
    alert_rig,
    discord_alert_rig,
    slack_alert_rig,
)
from tests.conftest import sleeper
from tests.daemon_harness import cli, write_config
from tests.helpers import wait_for

NINE_PARIS = datetime(2024, 1, 15, 8, 0, tzinfo=UTC).timestamp()  # 09:00 in Paris (UTC+1 in winter)
DAY = 86400.0
DAILY = {"name": "daily", "cron": "0 9 * * *", "timezone": "Europe/Paris", "to": ["console"]}
CLI = CommandContext(Actor("cli", "root", local=True))


def programs(*names: str, autostart: bool = False) -> list[dict[str, Any]]:
    return [{"name": n, "command": sleeper(n), "autostart": autostart} for n in names]


@asynccontextmanager
async def digest_app(make_app: Any, clock: FakeClock, *, progs: list[dict[str, Any]] | None = None,
                     digests: list[dict[str, Any]] | None = None,
                     **kwargs: Any) -> AsyncIterator[tuple[App, Alerting, RecordingMessenger]]:
    app = await make_app(progs if progs is not None else programs("web", "api", "db"), start=False, clock=clock,
                         digest=[DAILY] if digests is None else digests, **kwargs)
    rec = RecordingMessenger("console")
    app.messengers["console"] = rec
    alerting = install_extensions(app)
    await app.start()
    yield app, alerting, rec
    await app.stop(stop_programs=True)


async def test_a_digest_fires_at_its_cron_time_in_its_time_zone_once(make_app):
    clock = FakeClock(NINE_PARIS - 30)  # 08:59:30 in Paris
    async with digest_app(make_app, clock) as (_, alerting, rec):
        sched = alerting.digests
        assert sched.next_fire_time("daily") == NINE_PARIS
        assert not await sched.fire("daily")

        clock.set(NINE_PARIS + 0.5)
        assert await sched.fire("daily")
        assert not await sched.fire("daily")
        assert await alerting.outbox.drain()

        [digest] = rec.messages
        assert digest.reply.title == "Digest daily for testhost"
        assert (digest.reply.data["since"], digest.reply.data["until"]) == (NINE_PARIS - DAY, NINE_PARIS)
        real_next = datetime.fromtimestamp(sched.job_next_run("daily"), ZoneInfo("Europe/Paris"))  # APScheduler's job
        assert (real_next.hour, real_next.minute) == (9, 0)


def test_the_time_zone_decides_the_utc_fire_time_including_summer_time():
    paris = trigger("0 9 * * *", "Europe/Paris")
    july = datetime(2024, 7, 15, 6, 0, tzinfo=UTC).timestamp()
    assert next_fire(paris, NINE_PARIS - 60) == NINE_PARIS  # 08:00 UTC in winter
    assert next_fire(paris, july) == datetime(2024, 7, 15, 7, 0, tzinfo=UTC).timestamp()  # 07:00 UTC in summer


def test_cron_weekday_numbers_mean_what_they_mean_in_cron():
    weekdays = trigger("0 9 * * 1-5", "UTC")
    t, days = datetime(2024, 1, 14, tzinfo=UTC).timestamp(), []  # a Sunday
    for _ in range(5):
        t = next_fire(weekdays, t + 1)
        days.append(datetime.fromtimestamp(t, UTC).strftime("%a"))
    assert days == ["Mon", "Tue", "Wed", "Thu", "Fri"]


async def script_history(app: App, since: float, until: float) -> None:
    """web: up 18 of 24 hours (samples), 3 crashes, 2 automatic restarts; api: runs covering 18 hours."""
    rows = []
    for i in range(int((until - since) // 60)):
        at = since + i * 60
        up = at < since + 18 * 3600
        cpu, rss = (10.0, 100_000_000) if up else (0.0, 0)
        rows.append(SampleRow("web", at, 60, 12, cpu, 50.0 if i == 5 else cpu, float(rss),
                              200_000_000 if i == 7 else rss, 12 if up else 0))
    await app.registry.add_samples(rows)
    run = await app.registry.run_started("api", 4242, 1, since - 3600, "procbot (autostart)")
    await app.registry.run_ended(run, since + 6 * 3600, None, "SIGKILL", "crashed")
    await app.registry.run_started("api", 4243, 2, since + 12 * 3600, "procbot (restart policy)")
    events = [(since - 10, "web", "crashed", {})]  # before the period: not counted
    events += [(since + h * 3600, "web", "crashed", {"signal": "SIGKILL"}) for h in (1, 2, 3)]
    events += [(since + h * 3600 + 1, "web", "started", {"by": "procbot (restart policy)"}) for h in (1, 2)]
    events += [(since + 3 * 3600 + 1, "web", "started", {"by": "slack:alice"})]
    await app.registry.add_events(events)


async def test_a_digest_reports_uptime_failures_restarts_and_usage_from_the_recorded_history(make_app):
    clock = FakeClock(NINE_PARIS + 1)
    async with digest_app(make_app, clock) as (app, alerting, rec):
        await script_history(app, NINE_PARIS - DAY, NINE_PARIS)
        assert await alerting.digests.fire("daily")
        assert await alerting.outbox.drain()

        d = await alerting.builder.build("daily", NINE_PARIS - DAY, NINE_PARIS)
        web, api, db = d.line("web"), d.line("api"), d.line("db")
        assert (web.uptime, web.uptime_from, web.crashes, web.restarts) == (pytest.approx(0.75), "samples", 3, 2)
        assert (web.cpu_avg, web.cpu_max, web.rss_max) == (pytest.approx(7.5), 50.0, 200_000_000)
        assert (api.uptime, api.uptime_from) == (pytest.approx(0.75), "runs")
        assert (db.uptime, db.uptime_from) == (None, "none")
        assert [p.name for p in d.top_crashers] == ["web"]

        [digest] = rec.messages
        table = {row[0]: row for row in digest.reply.table.rows}
        assert table["web"][2:6] == ["75.0%", "3", "2", "7.5% / 50.0%"]
        assert table["api"][2] == "75.0%" and table["db"][2] == "-"
        assert digest.reply.data["top_crashers"] == [["web", 3]]


async def test_a_digest_lists_open_incidents_and_active_silences(make_app):
    clock = FakeClock(NINE_PARIS + 1)
    async with digest_app(make_app, clock) as (app, alerting, _):
        await alerting.incidents.create(Incident("web", NINE_PARIS - 600, NINE_PARIS - 600, crashes=4))
        await app.silences.add("api", 3600, "slack:alice", "deploy")
        d = await alerting.builder.build("daily", NINE_PARIS - DAY, NINE_PARIS)
        fields = {f.name: f.value for f in digest_reply(d).fields}
        assert fields["Open incidents"].startswith("web since ") and "(4 failures)" in fields["Open incidents"]
        assert fields["Active silences"].startswith("api until ") and "(deploy)" in fields["Active silences"]


async def test_a_digest_missed_while_procbot_was_down_is_posted_once_on_start_up(make_app, tmp_path: Path):
    hour = datetime(2024, 1, 15, 10, 0, tzinfo=UTC).timestamp()
    hourly = [{"name": "hourly", "cron": "0 * * * *", "to": ["console"], "grace": 3600}]
    state = tmp_path / "state"
    runs = []
    for at in (hour + 1800, hour + 4800, hour + 6000):  # 10:30 (fresh install), 11:20 (missed 11:00), 11:40
        async with digest_app(make_app, FakeClock(at), progs=programs("web", autostart=True), digests=hourly,
                              state_dir=state) as (_, alerting, rec):
            assert await alerting.outbox.drain()
            runs.append([m.reply.data["until"] for m in rec.messages])
    assert runs == [[], [hour + 3600], []]


async def test_a_digest_missed_longer_ago_than_its_grace_is_skipped(make_app, tmp_path: Path):
    hour = datetime(2024, 1, 15, 10, 0, tzinfo=UTC).timestamp()
    hourly = [{"name": "hourly", "cron": "0 * * * *", "to": ["console"], "grace": 600}]
    posted = []
    for at in (hour + 1800, hour + 4800):
        async with digest_app(make_app, FakeClock(at), progs=programs("web", autostart=True), digests=hourly,
                              state_dir=tmp_path / "state") as (_, alerting, rec):
            assert await alerting.outbox.drain()
            posted += rec.messages
    assert posted == []


async def test_proc_digest_posts_a_digest_now_to_the_digest_destinations(make_app):
    async with digest_app(make_app, FakeClock(NINE_PARIS + 7200)) as (app, alerting, rec):
        reply = await app.dispatcher.handle("digest", CLI)
        assert await alerting.outbox.drain()
        assert reply.ok and reply.text == "daily to console."
        [digest] = rec.messages
        assert digest.reply.title == "Digest daily for testhost"
        assert digest.reply.text.startswith("Asked for by cli:root.")


def bad(cron: str = "0 9 * * *", timezone: str = "UTC") -> dict[str, Any]:
    return {"digest": [{"name": "daily", "cron": cron, "timezone": timezone, "to": ["console"]}]}


@pytest.mark.parametrize(("entry", "key"), [
    (bad(cron="0 25 * * *"), "digest[daily].cron"),
    (bad(cron="0 9 * *"), "digest[daily].cron"),
    (bad(cron="0 9 * * 8"), "digest[daily].cron"),
    (bad(timezone="Mars/Olympus"), "digest[daily].timezone"),
])
def test_a_bad_cron_expression_or_time_zone_is_reported_with_its_key(entry, key, tmp_path: Path):
    config = config_from_dict(entry, str(tmp_path / "procbot.toml"))
    [(found, problem)] = digest_problems(config)
    assert found == key and problem


async def test_procbot_refuses_to_start_with_a_bad_schedule_naming_the_key(make_app, tmp_path: Path):
    app = await make_app([], start=False, digest=bad(timezone="Mars/Olympus")["digest"])
    with pytest.raises(ConfigError) as err:
        install_extensions(app)
    assert err.value.key == "digest[daily].timezone"

    cfg = write_config(tmp_path, '[[digest]]\nname = "daily"\ncron = "0 25 * * *"\nto = ["console"]\n')
    for command in ("check-config", "run"):
        out = cli(cfg, command)
        assert out.returncode == 2 and "digest[daily].cron" in out.stderr, out.stderr


async def test_the_hourly_rollup_gives_the_same_figures_as_the_raw_samples_even_after_thinning(make_app):
    clock = FakeClock(NINE_PARIS)
    async with digest_app(make_app, clock, progs=[], digests=[]) as (app, _, _):
        base = NINE_PARIS - 5 * 3600
        rows = [SampleRow(p, base + i * 60, 60, 6, float(i % 7), float(i % 11), 1e6 + i, 2_000_000 + i, i % 6)
                for p in ("a", "b") for i in range(5 * 60)]
        await app.registry.add_samples(rows)
        rollup = SampleRollup(app.registry)
        assert await rollup.roll(NINE_PARIS) == 5

        for since, until in [(base, NINE_PARIS), (base + 1234, NINE_PARIS - 2000), (base + 100, base + 900)]:
            want = await app.registry.sample_summary(since, until)
            got = await rollup.usage(since, until, NINE_PARIS)
            for p in ("a", "b"):
                assert got[p].n == want[p]["n"] and got[p].uptime == pytest.approx(want[p]["up_fraction"])
                assert got[p].cpu_avg == pytest.approx(want[p]["cpu_avg"]) and got[p].cpu_max == want[p]["cpu_max"]
                assert got[p].rss_max == want[p]["rss_max"]

        before = await rollup.usage(base, NINE_PARIS, NINE_PARIS)
        await app.registry.thin_samples(NINE_PARIS - 3600, 900.0)
        await rollup.roll(NINE_PARIS)
        after = await rollup.usage(base, NINE_PARIS, NINE_PARIS)
        assert {p: (u.n, u.up_n, u.cpu_max) for p, u in after.items()} == \
               {p: (u.n, u.up_n, u.cpu_max) for p, u in before.items()}


# ------------------------------------------------------------------ digests through the real adapters

DIGEST_DISCORD_CHANNEL = "223344556677889900"  # the fake Discord accepts any channel ID


def digest_to(destination: str) -> list[dict[str, Any]]:
    return [{**DAILY, "to": [destination]}]


async def test_a_digest_to_slack_arrives_as_block_kit_with_the_programs_table_and_uptime(make_app):
    async with slack_alert_rig(make_app, programs("web", "api", "db"), digest=digest_to("slack:CDIGEST"),
                               clock=FakeClock(NINE_PARIS + 1)) as rig:
        await script_history(rig.app, NINE_PARIS - DAY, NINE_PARIS)
        assert await rig.alerting.digests.fire("daily")
        await rig.settle()

        [msg] = [m for m in rig.fake.messages.values() if m.channel == "CDIGEST"]
        assert msg.blocks[0]["type"] == "section" and "Digest daily for testhost" in msg.blocks[0]["text"]["text"]
        texts = "\n".join(b["text"]["text"] for b in msg.blocks if b["type"] == "section" and "text" in b)
        assert "average uptime 75.0%" in texts
        [table] = [t for t in texts.split("```") if "PROGRAM" in t]
        assert "UPTIME" in table and "FAILURES" in table and "RESTARTS" in table
        assert re.search(r"web\s+stopped\s+75\.0%\s+3\s+2\s+7\.5% / 50\.0%", table), table
        assert re.search(r"api\s+stopped\s+75\.0%", table) and re.search(r"db\s+stopped\s+-", table), table


async def test_a_digest_to_discord_arrives_as_an_embed_with_the_programs_table_and_uptime(make_app):
    async with discord_alert_rig(make_app, programs("web", "api", "db"),
                                 digest=digest_to(f"discord:{DIGEST_DISCORD_CHANNEL}"),
                                 clock=FakeClock(NINE_PARIS + 1)) as rig:
        await script_history(rig.app, NINE_PARIS - DAY, NINE_PARIS)
        assert await rig.alerting.digests.fire("daily")
        await rig.settle()

        [msg] = rig.fake.channel_messages[DIGEST_DISCORD_CHANNEL]
        [embed] = msg["embeds"]
        assert embed["title"] == "Digest daily for testhost"
        assert "average uptime 75.0%" in embed["description"]
        [table] = [t for t in embed["description"].split("```") if "PROGRAM" in t]
        assert re.search(r"web\s+stopped\s+75\.0%\s+3\s+2\s+7\.5% / 50\.0%", table), table
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["Top crashers"] == "web (3)"


async def test_a_digest_counts_programs_stopped_on_purpose_as_stopped_not_as_up(make_app):
    progs = [*programs("web", autostart=True), *programs("api", "db")]
    async with digest_app(make_app, FakeClock(NINE_PARIS + 1), progs=progs) as (_, alerting, rec):
        assert await alerting.digests.fire("daily")
        assert await alerting.outbox.drain()

        [digest] = rec.messages
        assert "3 programs: 1 up or starting, 2 stopped, 0 down;" in digest.reply.text


async def test_a_digest_built_right_after_a_crash_counts_the_failure_its_open_incident_shows(make_app):
    async with alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        await wait_for(lambda: rig.app.supervisor.state("web").pid is not None)
        rig.app.recorder.batch_delay = 5.0  # widen the recorder's 50 ms batching window so the race is certain
        await rig.kill("web")
        await wait_for(lambda: any(i.program == "web" for i in rig.alerting.policy.open_incidents()))

        now = rig.app.clock.time()
        digest = await rig.alerting.builder.build("now", now - 3600, now + 1)

        assert [i.program for i in digest.open_incidents] == ["web"]
        assert digest.line("web").crashes == 1 and digest.crashes == 1


async def test_a_digest_is_written_in_its_own_time_zone_not_the_hosts(make_app):
    from adapters.text_render import render as plain

    tokyo = {**DAILY, "timezone": "Asia/Tokyo", "cron": "0 17 * * *"}  # 17:00 in Tokyo is 08:00 UTC
    async with digest_app(make_app, FakeClock(NINE_PARIS + 1), digests=[tokyo]) as (_, alerting, rec):
        assert await alerting.digests.fire("daily")
        await alerting.outbox.drain()
        [sent] = rec.messages
        assert "to 2024-01-15 17:00:00 JST" in plain(sent.reply)


async def test_digest_times_on_slack_are_date_tokens_each_reader_sees_in_their_own_zone(make_app):
    async with slack_alert_rig(make_app, programs("web"), digest=digest_to("slack:CDIGEST"),
                               clock=FakeClock(NINE_PARIS + 1)) as rig:
        assert await rig.alerting.digests.fire("daily")
        await rig.settle()
        [msg] = [m for m in rig.fake.messages.values() if m.channel == "CDIGEST"]
        token = f"<!date^{int(NINE_PARIS)}^{{date_short_pretty}} {{time}}|2024-01-15 09:00:00 CET>"
        assert token in str(msg.blocks)
        assert "\ue000" not in msg.text and "\ue000" not in str(msg.blocks)
