"""Crash alerts through the real Slack and Discord adapters, received by the fake platforms."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from bot.extensions import install_extensions
from core.actor import Actor, CommandContext
from tests.alert_fixtures import alert_program, discord_alert_rig, slack_alert_rig, wait_logged
from tests.fakes.discord_harness import OPS_ROLE
from tests.fakes.discord_harness import PERMS as DISCORD_PERMS
from tests.fakes.slack_server import FakeSlack
from tests.helpers import wait_for

SLACK_PERMS = {"default_role": "viewer", "grants": [{"role": "operator", "platform": "slack", "users": ["U0OP"]}]}
CLI = CommandContext(Actor("cli", "root", local=True))


def top_level(fake: FakeSlack) -> list[Any]:
    return [m for m in fake.messages.values() if m.thread_ts is None]


def blocks_text(msg: Any) -> str:
    return json.dumps(msg.blocks)


def slack_buttons(msg: Any) -> list[tuple[str, str]]:
    return [(e["text"]["text"], e["value"]) for b in msg.blocks if b["type"] == "actions" for e in b["elements"]]


async def crash(rig: Any, name: str = "web") -> int:
    await wait_logged(rig.app, name, "starting")
    pid = rig.app.supervisor.state(name).pid
    os.kill(pid, signal.SIGKILL)
    return pid


# ------------------------------------------------------------------ Slack


async def test_slack_receives_exactly_one_alert_with_the_fields_and_buttons(make_app):
    async with slack_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        await crash(rig)
        await rig.fake.wait_for(lambda: top_level(rig.fake), timeout=10)
        await rig.settle()

        [msg] = top_level(rig.fake)
        assert msg.channel == "CALERTS" and "web crashed on testhost" in msg.text
        text = blocks_text(msg)
        assert "killed by SIGKILL" in text and "testhost" in text and "web starting up" in text
        assert slack_buttons(msg) == [("Restart", "cmd:restart web"), ("Logs", "cmd:logs web 50"),
                                      ("Silence 1h", "cmd:silence web 1h")]
        assert len(rig.fake.calls_to("chat.postMessage")) == 1


async def test_slack_restart_button_restarts_for_an_operator_and_is_refused_for_a_viewer(make_app):
    async with slack_alert_rig(make_app, [alert_program("web", min_uptime=30)], permissions=SLACK_PERMS) as rig:
        await crash(rig)
        await rig.fake.wait_for(lambda: top_level(rig.fake), timeout=10)
        st = rig.app.supervisor.state("web")
        await wait_for(lambda: st.state.value == "starting")
        before = st.pid

        env = await rig.fake.press("cmd:restart web", user_id="U0VIEW", is_ephemeral=False)
        refused = await rig.fake.wait_response(env.response_url, timeout=10)
        assert "operator role" in refused["text"] and st.pid == before

        env = await rig.fake.press("cmd:restart web", user_id="U0OP", is_ephemeral=False)
        done = await rig.fake.wait_response(env.response_url, timeout=10)
        assert "Restarted web" in done["text"] and st.pid != before
        outcomes = [(r.user_id, r.outcome) for r in await rig.app.registry.audit_rows(2)]
        assert outcomes == [("U0OP", "ok"), ("U0VIEW", "refused")]


async def flap(rig: Any, name: str, times: int) -> None:
    """Kill ``name`` ``times`` times, each time once its replacement is up."""
    st = rig.app.supervisor.state(name)
    for _ in range(times):
        await wait_for(lambda: st.state.value == "starting" and st.pid is not None)
        pid = st.pid
        os.kill(pid, signal.SIGKILL)
        await wait_for(lambda p=pid: st.pid != p or st.state.value != "starting")


FLAPPY = alert_program("web", min_uptime=30, give_up={"failures": 50, "window": 600})


async def test_slack_gets_one_message_for_a_program_killed_ten_times_edited_in_place(make_app):
    async with slack_alert_rig(make_app, [FLAPPY]) as rig:
        await flap(rig, "web", 10)
        await rig.settle()

        [msg] = top_level(rig.fake)
        assert len(rig.fake.calls_to("chat.postMessage")) == 1
        assert 1 <= msg.edits <= 9 and len(rig.fake.calls_to("chat.update")) == msg.edits
        assert "web crashed 10 times in " in msg.text


async def test_discord_gets_one_message_for_a_program_killed_ten_times_edited_in_place(make_app):
    async with discord_alert_rig(make_app, [FLAPPY]) as rig:
        await flap(rig, "web", 10)
        await rig.settle()

        [msg] = rig.fake.channel_messages[rig.fake.channel_id]
        edits = [e for e in rig.fake.message_edits if e["id"] == msg["id"]]
        assert 1 <= len(edits) == len(rig.fake.message_edits) <= 9
        assert msg["embeds"][0]["title"].startswith("web crashed 10 times in ")


class FlakySlack(FakeSlack):
    """Answers chat.postMessage with a scripted run of failures first."""

    script: list[tuple[int, int]] = []

    def _take_failure(self, key: str) -> web.Response | None:
        if key != "chat.postMessage" or not self.script:
            return super()._take_failure(key)
        status, retry_after = self.script.pop(0)
        if status == 429:
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry_after)})
        return web.Response(status=status, text="upstream failure")


async def test_slack_answering_500_then_429_then_recovering_gets_the_alert_exactly_once(make_app, monkeypatch):
    FlakySlack.script = [(500, 0)] * 3 + [(429, 0)] * 3  # slack_sdk retries each twice itself
    monkeypatch.setattr("tests.fakes.slack_server.FakeSlack", FlakySlack)
    async with slack_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        assert isinstance(rig.fake, FlakySlack)
        await crash(rig)
        await rig.fake.wait_for(lambda: top_level(rig.fake), timeout=20)
        await rig.settle()

        assert FlakySlack.script == []
        assert len(top_level(rig.fake)) == 1
        [(attempts, error)] = await rig.app.registry.fetch_all("SELECT attempts, last_error FROM outbox")
        assert attempts >= 2 and error is None


async def test_slack_recovery_lands_in_the_alert_thread_and_the_alert_is_edited_to_resolved(make_app):
    async with slack_alert_rig(make_app, [alert_program("web", min_uptime=0.3)]) as rig:
        await crash(rig)
        await rig.fake.wait_for(lambda: len(rig.fake.messages) >= 2, timeout=10)
        await rig.settle()

        [alert] = top_level(rig.fake)
        [recovery] = [m for m in rig.fake.messages.values() if m.thread_ts is not None]
        assert recovery.thread_ts == alert.ts and "web is running again" in recovery.text
        assert alert.edits >= 1 and "web recovered on testhost" in alert.text


async def test_slack_refusing_the_channel_is_a_failure_shown_in_status_not_a_retry_loop(make_app):
    async with slack_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        rig.fake.not_in_channel.add("CALERTS")
        await crash(rig)
        await wait_for(lambda: bool(rig.alerting.outbox.status_notes()), timeout=10)

        status = await rig.app.dispatcher.handle("status", CLI)
        assert "1 alert undelivered to slack:CALERTS: Slack chat.postMessage: not_in_channel" in status.text
        assert len(rig.fake.calls_to("chat.postMessage")) == 1


# ------------------------------------------------------------------ Discord


def discord_buttons(msg: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["label"], c["custom_id"]) for row in msg.get("components") or [] for c in row["components"]]


async def test_discord_receives_exactly_one_alert_embed_with_the_fields_and_buttons(make_app):
    async with discord_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        await crash(rig)
        await rig.fake.wait_until(lambda: bool(rig.fake.channel_messages.get(rig.fake.channel_id)), 10)
        await rig.settle()

        [msg] = rig.fake.channel_messages[rig.fake.channel_id]
        embed = msg["embeds"][0]
        assert embed["title"] == "web crashed on testhost"
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["Exit"] == "killed by SIGKILL" and fields["Host"] == "testhost"
        assert discord_buttons(msg) == [("Restart", "procbot:cmd:restart web"), ("Logs", "procbot:cmd:logs web 50"),
                                        ("Silence 1h", "procbot:cmd:silence web 1h")]


async def test_discord_restart_button_restarts_for_an_operator_and_is_refused_for_a_viewer(make_app):
    async with discord_alert_rig(make_app, [alert_program("web", min_uptime=30)], permissions=DISCORD_PERMS) as rig:
        await crash(rig)
        await rig.fake.wait_until(lambda: bool(rig.fake.channel_messages.get(rig.fake.channel_id)), 10)
        st = rig.app.supervisor.state("web")
        await wait_for(lambda: st.state.value == "starting")
        before = st.pid
        [msg] = rig.fake.channel_messages[rig.fake.channel_id]

        viewer = await rig.fake.wait_answered(
            await rig.fake.click(msg, "procbot:cmd:restart web", user=rig.fake.user("victor")), 10)
        assert "operator role" in viewer.text() and st.pid == before

        operator = rig.fake.user("olive", roles=[OPS_ROLE])
        done = await rig.fake.wait_answered(await rig.fake.click(msg, "procbot:cmd:restart web", user=operator), 10)
        assert "Restarted web" in done.text() and st.pid != before


async def test_discord_recovery_replies_to_the_alert_which_is_edited_to_resolved(make_app):
    async with discord_alert_rig(make_app, [alert_program("web", min_uptime=0.3)]) as rig:
        await crash(rig)
        await rig.fake.wait_until(lambda: len(rig.fake.channel_messages.get(rig.fake.channel_id, [])) >= 2, 10)
        await rig.settle()

        alert, recovery = rig.fake.channel_messages[rig.fake.channel_id]
        assert str(recovery["message_reference"]["message_id"]) == str(alert["id"])
        assert recovery["embeds"][0]["title"] == "web is running again on testhost"
        assert alert["embeds"][0]["title"] == "web recovered on testhost"


async def test_discord_answering_500_then_429_then_recovering_gets_the_alert_exactly_once(make_app):
    async with discord_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        messages = r"/channels/\d+/messages$"
        # 503: discord.py gives up at once and the outbox retries; 429: discord.py waits retry_after itself
        rig.fake.fail_next(503, 3, path=messages)
        rig.fake.fail_next(429, 3, path=messages, retry_after=0.05)
        await crash(rig)
        await rig.fake.wait_until(lambda: bool(rig.fake.channel_messages.get(rig.fake.channel_id)), 20)
        await rig.settle(20)

        assert all(f.remaining == 0 for f in rig.fake._failures)  # every scripted failure was met
        [msg] = rig.fake.channel_messages[rig.fake.channel_id]
        assert msg["embeds"][0]["title"] == "web crashed on testhost"
        [(attempts, error, delivered)] = await rig.app.registry.fetch_all(
            "SELECT attempts, last_error, delivered_at IS NOT NULL FROM outbox")
        assert attempts == 3  # one outbox retry per 503; the 429s were waited out inside the client
        assert (error, delivered) == (None, 1)


def chatty_program(name: str, lines: int = 15) -> dict[str, Any]:
    """Like alert_program, but logs ``lines`` numbered lines before it settles down."""
    code = (f"import time\nfor i in range(1, {lines + 1}): print(f'{name} line {{i:02d}}', flush=True)\n"
            "while True: time.sleep(3600)")
    return {**alert_program(name, min_uptime=30), "command": [sys.executable, "-c", code]}


def slack_fields(msg: Any) -> dict[str, str]:
    """Every ``*Name*\\nvalue`` field of the message's section blocks."""
    found = [f["text"] for b in msg.blocks if b["type"] == "section" for f in b.get("fields", [])]
    return dict(t.removeprefix("*").split("*\n", 1) for t in found)


async def test_slack_crash_alert_carries_ran_for_restarts_next_the_last_log_lines_and_the_buttons(make_app):
    async with slack_alert_rig(make_app, [chatty_program("web")]) as rig:
        await wait_logged(rig.app, "web", "web line 15")
        os.kill(rig.app.supervisor.state("web").pid, signal.SIGKILL)
        await rig.fake.wait_for(lambda: top_level(rig.fake), timeout=10)
        await rig.settle()

        [msg] = top_level(rig.fake)
        fields = slack_fields(msg)
        assert re.fullmatch(r"\d+(\.\d+)?m?s", fields["Ran for"]), fields
        assert fields["Restarts"].startswith("0 ") and fields["Next"].startswith("restart"), fields
        logs = [b["text"]["text"] for b in msg.blocks if b["type"] == "section" and "```" in b.get("text", {}).get(
            "text", "")]
        assert logs and all(f"web line {i:02d}" in logs[-1] for i in range(6, 16))  # the last log_lines (10)
        assert "web line 05" not in blocks_text(msg)
        assert slack_buttons(msg) == [("Restart", "cmd:restart web"), ("Logs", "cmd:logs web 50"),
                                      ("Silence 1h", "cmd:silence web 1h")]


# ------------------------------------------------------------------ a platform configured without its token

NO_TOKEN = {
    "slack": ({}, "slack", {"api_url": "http://127.0.0.1:9/api/"}, "slack:CALERTS",
              "1 alert undelivered to slack:CALERTS: alerts go to Slack but the Slack credentials are not set "
              "(SLACK_BOT_TOKEN and SLACK_APP_TOKEN)"),
    "slack-app-token": ({"SLACK_BOT_TOKEN": "xoxb-1111-2222-fakebottoken"}, "slack",
                        {"api_url": "http://127.0.0.1:9/api/"}, "slack:CALERTS",
                        "1 alert undelivered to slack:CALERTS: alerts go to Slack but the Slack credentials are "
                        "not set (SLACK_BOT_TOKEN and SLACK_APP_TOKEN)"),
    "discord": ({}, "discord", {"guilds": ["223344556677889900"]}, "discord:223344556677889900",
                "1 alert undelivered to discord:223344556677889900: alerts go to Discord but the Discord token is "
                "not set (DISCORD_TOKEN)"),
}


@pytest.mark.parametrize(("tokens", "platform", "section", "destination", "note"), NO_TOKEN.values(),
                         ids=NO_TOKEN.keys())
async def test_an_alert_to_a_platform_configured_without_its_token_fails_visibly_and_procbot_goes_on(
        make_app, caplog, tokens, platform, section, destination, note):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))} | tokens
    app = await make_app([alert_program("web", min_uptime=30)], start=False, with_adapters=True, environ=environ,
                         alerts={"route": [{"to": [destination]}]}, **{platform: section})
    alerting = install_extensions(app, outbox_backoff=0.05)
    await app.start()
    assert platform not in app.messengers  # the adapter was not started without its token

    crashed = await crash(SimpleNamespace(app=app))
    await wait_for(lambda: bool(alerting.outbox.status_notes()), timeout=10)

    status = await app.dispatcher.handle("status", CLI)
    assert note in status.text, status.text
    [(failed, error)] = await app.registry.fetch_all("SELECT failed, last_error FROM outbox")
    assert failed == 1 and error in note
    st = app.supervisor.state("web")
    await wait_for(lambda: st.state.value == "starting" and st.pid not in (None, crashed))  # still supervising
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# ------------------------------------------------------------------ Discord refusing the channel


async def test_discord_missing_access_is_a_failure_shown_in_status_not_a_retry_loop(make_app):
    async with discord_alert_rig(make_app, [alert_program("web", min_uptime=30)]) as rig:
        channel = rig.fake.channel_id
        rig.fake.forbidden_channels.add(channel)
        await crash(rig)
        await wait_for(lambda: bool(rig.alerting.outbox.status_notes()), timeout=10)

        status = await rig.app.dispatcher.handle("status", CLI)
        assert (f"1 alert undelivered to discord:{channel}: Discord refused post to channel {channel}: "
                f"403 Missing Access") in status.text, status.text
        [(failed, attempts)] = await rig.app.registry.fetch_all("SELECT failed, attempts FROM outbox")
        assert (failed, attempts) == (1, 1)
        assert rig.fake.requests.count(("POST", f"/api/v10/channels/{channel}/messages")) == 1
