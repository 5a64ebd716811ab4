"""The Discord Messenger: alerts posted, threaded, updated; failures mapped for the outbox."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.discord.adapter import DiscordAdapter
from core.errors import DeliveryError
from core.reply import Button, Reply, Tone
from core.spec import DiscordSettings
from tests.fakes.discord_harness import discord_procbot
from tests.fakes.discord_server import FakeDiscord

ALERT = Reply(title="web crashed", text="exit code 1 after 3s", tone=Tone.ERROR,
              buttons=[Button("Restart", "cmd:restart web", "primary")], ephemeral=False)


def posts(fake: FakeDiscord) -> int:
    return sum(1 for m, p in fake.requests if m == "POST" and p.endswith("/messages"))


async def test_post_lands_in_the_channel_with_embed_buttons_and_no_pings(make_app: Any) -> None:
    async with discord_procbot(make_app) as h:
        ref = await h.adapter.post(h.fake.channel_id, ALERT)
        (msg,) = h.fake.channel_messages[h.fake.channel_id]
        assert msg["id"] == ref
        assert msg["embeds"][0]["title"] == "web crashed" and msg["embeds"][0]["color"] == 0xE74C3C
        assert msg["components"][0]["components"][0]["custom_id"] == "procbot:cmd:restart web"
        assert msg["allowed_mentions"] == {"parse": []}


async def test_a_thread_reply_references_the_alert(make_app: Any) -> None:
    async with discord_procbot(make_app) as h:
        ref = await h.adapter.post(h.fake.channel_id, ALERT)
        await h.adapter.post(h.fake.channel_id, Reply(title="web recovered", tone=Tone.OK), thread_ref=ref)
        reply = h.fake.channel_messages[h.fake.channel_id][1]
        assert str(reply["message_reference"]["message_id"]) == ref


async def test_update_replaces_the_message_in_place(make_app: Any) -> None:
    async with discord_procbot(make_app) as h:
        ref = await h.adapter.post(h.fake.channel_id, ALERT)
        await h.adapter.update(h.fake.channel_id, ref, Reply(title="web is flapping (5 crashes)", tone=Tone.WARN))
        (msg,) = h.fake.channel_messages[h.fake.channel_id]
        assert msg["embeds"][0]["title"] == "web is flapping (5 crashes)"
        assert msg["components"] == []
        assert h.fake.message_edits[0]["allowed_mentions"] == {"parse": []}


async def test_a_429_is_waited_out_and_the_alert_delivered_exactly_once(make_app: Any) -> None:
    async with discord_procbot(make_app) as h:
        h.fake.fail_next(429, path=r"/channels/\d+/messages$", retry_after=0.2)
        ref = await h.adapter.post(h.fake.channel_id, ALERT)
        assert [m["id"] for m in h.fake.channel_messages[h.fake.channel_id]] == [ref]
        assert posts(h.fake) == 2


async def test_a_server_error_is_handed_back_to_the_outbox_at_once_not_retried_inside_discord_py(
        make_app: Any) -> None:
    """discord.py would retry a 500 for 25 s while the alerts behind it wait; the outbox retries instead."""
    async with discord_procbot(make_app) as h:
        h.fake.fail_next(500, path=r"/channels/\d+/messages$")
        with pytest.raises(DeliveryError) as err:
            await h.adapter.post(h.fake.channel_id, ALERT)
        assert err.value.retryable and "server error 500" in str(err.value)
        assert posts(h.fake) == 1 and h.fake.channel_messages == {}
        await h.adapter.post(h.fake.channel_id, ALERT)  # the outbox's retry
        assert len(h.fake.channel_messages[h.fake.channel_id]) == 1


async def test_a_long_rate_limit_is_handed_back_to_the_outbox_with_retry_after(make_app: Any) -> None:
    async with discord_procbot(make_app) as h:
        h.fake.fail_next(429, path=r"/channels/\d+/messages$", retry_after=45.0)
        with pytest.raises(DeliveryError) as err:
            await h.adapter.post(h.fake.channel_id, ALERT)
        assert err.value.retryable and err.value.retry_after == 45.0
        assert h.fake.channel_messages == {}


async def test_missing_access_is_not_retryable(make_app: Any) -> None:
    async with discord_procbot(make_app) as h:
        h.fake.forbidden_channels.add(h.fake.channel_id)
        with pytest.raises(DeliveryError) as err:
            await h.adapter.post(h.fake.channel_id, ALERT)
        assert not err.value.retryable and "403" in str(err.value)


async def test_updating_an_unknown_message_is_not_retryable(make_app: Any) -> None:
    async with discord_procbot(make_app) as h:
        with pytest.raises(DeliveryError) as err:
            await h.adapter.update(h.fake.channel_id, "1234567890123456789", ALERT)
        assert not err.value.retryable and "404" in str(err.value)


async def test_a_channel_that_is_not_an_id_is_not_retryable(make_app: Any) -> None:
    async with discord_procbot(make_app) as h:
        with pytest.raises(DeliveryError) as err:
            await h.adapter.post("#ops", ALERT)
        assert not err.value.retryable


async def test_posting_before_login_is_retryable(make_app: Any) -> None:
    app = await make_app([])
    adapter = DiscordAdapter(DiscordSettings(), app.dispatcher, "token")
    with pytest.raises(DeliveryError) as err:
        await adapter.post("123456789012345678", ALERT)
    assert err.value.retryable and err.value.retry_after
