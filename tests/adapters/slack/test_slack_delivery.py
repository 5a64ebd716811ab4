"""Alerts through the Messenger port, and Web API / response URL failures (429, 5xx)."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import DeliveryError
from core.reply import Button, Reply, Tone
from tests.conftest import sleeper
from tests.fakes.slack_harness import slack_procbot

PERMS = {"default_role": "viewer", "grants": [{"role": "operator", "platform": "slack", "users": ["U0OP"]}]}
WEB = [{"name": "web", "command": sleeper("web")}]


def alert(title: str = "web crashed") -> Reply:
    return Reply(title=title, text="exit 1 after 3s <!channel>", tone=Tone.ERROR,
                 code="Traceback ...\nValueError", buttons=[Button("Restart", "cmd:restart web", "primary")])


async def test_an_alert_is_posted_to_its_channel_with_blocks(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        ref = await h.adapter.post("C0ALERTS", alert())
        channel, ts = ref.split(":")
        msg = h.fake.messages[("C0ALERTS", ts)]
        assert channel == "C0ALERTS" and msg.thread_ts is None
        assert msg.blocks[-1]["elements"][0]["value"] == "cmd:restart web"
        assert "<!channel>" not in msg.text and "web crashed" in msg.text


async def test_a_recovery_lands_in_the_alert_thread(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        ref = await h.adapter.post("C0ALERTS", alert())
        reply_ref = await h.adapter.post("C0ALERTS", Reply(title="web recovered", tone=Tone.OK), thread_ref=ref)
        reply_ts = reply_ref.split(":")[1]
        assert h.fake.messages[("C0ALERTS", reply_ts)].thread_ts == ref.split(":")[1]


async def test_a_flapping_alert_is_updated_in_place(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        ref = await h.adapter.post("C0ALERTS", alert())
        await h.adapter.update("C0ALERTS", ref, alert("web is flapping (5 crashes)"))
        msg = h.fake.messages[("C0ALERTS", ref.split(":")[1])]
        assert msg.edits == 1 and "flapping" in msg.text
        assert len(h.fake.messages) == 1


async def test_a_429_is_retried_after_retry_after_and_delivered_once(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        h.fake.fail("chat.postMessage", status=429, retry_after=1, times=1)
        await h.adapter.post("C0ALERTS", alert())
        first, retry = h.fake.calls_to("chat.postMessage")
        # a lower bound, not a speed check: the retry must not come before Retry-After, as Slack saw it
        assert retry.at - first.at >= 1.0
        assert len(h.fake.messages) == 1


async def test_a_server_error_is_retried_and_delivered_once(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        h.fake.fail("chat.postMessage", status=503, times=1)
        await h.adapter.post("C0ALERTS", alert())
        assert len(h.fake.messages) == 1


async def test_persistent_rate_limiting_is_a_retryable_delivery_error_with_retry_after(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        h.fake.fail("chat.postMessage", status=429, retry_after=0, times=100)
        with pytest.raises(DeliveryError) as err:
            await h.adapter.post("C0ALERTS", alert())
        assert err.value.retryable and err.value.retry_after == 0.0
        assert h.fake.messages == {}


async def test_a_channel_the_bot_is_not_in_is_a_permanent_delivery_error(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        h.fake.not_in_channel.add("C0PRIVATE")
        with pytest.raises(DeliveryError) as err:
            await h.adapter.post("C0PRIVATE", alert())
        assert not err.value.retryable and "not_in_channel" in str(err.value)


async def test_updating_a_vanished_message_is_a_permanent_delivery_error(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        with pytest.raises(DeliveryError) as err:
            await h.adapter.update("C0ALERTS", "C0ALERTS:123.456", alert())
        assert not err.value.retryable


async def test_a_rate_limited_response_url_still_answers_the_user_once(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        h.fake.fail("response", status=429, retry_after=0, times=1)
        env = await h.fake.slash_command("status")
        body = await h.fake.wait_response(env.response_url)
        assert "Status on" in body["text"]
        assert len(h.fake.responses_to(env.response_url)) == 1


async def test_the_user_is_told_when_the_answer_finally_cannot_be_delivered(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        h.fake.fail("response", status=429, retry_after=0, times=100)
        await h.fake.slash_command("status", user_id="U0OP", channel_id="C0OPS")
        await h.fake.wait_for(lambda: h.fake.ephemeral, timeout=10)
        told = h.fake.ephemeral[0]
        assert (told["user"], told["channel"]) == ("U0OP", "C0OPS")
        assert "could not deliver" in told["text"]


async def test_an_unknown_ok_false_error_is_permanent_as_a_retry_gets_the_same_answer(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        h.fake.fail("chat.postMessage", status=200, error="some_error_slack_adds_next_year", times=1)
        with pytest.raises(DeliveryError) as err:
            await h.adapter.post("C0ALERTS", alert())
        assert not err.value.retryable and "some_error_slack_adds_next_year" in str(err.value)


async def test_an_ok_false_error_slack_documents_as_temporary_is_retried(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS) as h:
        h.fake.fail("chat.postMessage", status=200, error="service_unavailable", times=1)
        with pytest.raises(DeliveryError) as err:
            await h.adapter.post("C0ALERTS", alert())
        assert err.value.retryable
