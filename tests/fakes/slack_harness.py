"""procbot wired to the fake Slack, the way ``procbot run`` wires it.

The App is built from a config with a ``[slack]`` section pointing at the
fake (``api_url``) and tokens in its environment, so the adapter under test
is the one ``bot.platforms`` builds: real slack-bolt, real
dispatcher, real processes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from adapters.slack.adapter import SlackAdapter
from tests.fakes.slack_server import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    form_body,
    post_signed,
    slash_payload,
)

CONNECT_TIMEOUT = 10.0


@dataclass
class SlackProcbot:
    app: Any
    fake: FakeSlack
    adapter: SlackAdapter

    async def command(self, text: str, *, user: str = "U0OP", channel: str = "C0OPS",
                      timeout: float = 10.0) -> dict[str, Any]:
        """Run ``/proc text`` as ``user``; returns the body procbot posted to the response URL."""
        if self.adapter.settings.mode == "http":
            url = self.fake.new_response_url()
            payload = slash_payload(text, user_id=user, channel_id=channel, response_url=url,
                                    command=self.adapter.settings.command)
            status, _ = await post_signed(self.endpoint, form_body(payload))
            assert status == 200, f"HTTP-mode ack was {status}"
            return await self.fake.wait_response(url, timeout=timeout)
        env = await self.fake.slash_command(text, user_id=user, channel_id=channel,
                                            command=self.adapter.settings.command)
        await self.fake.wait_ack(env, timeout=timeout)
        return await self.fake.wait_response(env.response_url, timeout=timeout)

    async def press(self, value: str, *, user: str = "U0OP", is_ephemeral: bool = True,
                    timeout: float = 10.0) -> dict[str, Any]:
        env = await self.fake.press(value, user_id=user, is_ephemeral=is_ephemeral)
        await self.fake.wait_ack(env, timeout=timeout)
        return await self.fake.wait_response(env.response_url, timeout=timeout)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.adapter.http_port}{self.adapter.settings.http_path}"


MakeApp = Callable[..., Awaitable[Any]]


@asynccontextmanager
async def slack_procbot(
    make_app: MakeApp,
    *,
    programs: list[dict[str, Any]] | None = None,
    permissions: dict[str, Any] | None = None,
    slack: dict[str, Any] | None = None,
    fake: FakeSlack | None = None,
    **sections: Any,
) -> AsyncIterator[SlackProcbot]:
    """A started App with its Slack adapter connected to a (started) fake Slack."""
    own_fake = fake is None
    fake = fake or await FakeSlack().start()
    try:
        settings: dict[str, Any] = {"api_url": fake.api_url, "http_host": "127.0.0.1", "http_port": 0,
                                    **(slack or {})}
        environ = dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN,
                       SLACK_SIGNING_SECRET=SIGNING_SECRET)
        app = await make_app(programs or [], permissions=permissions, environ=environ, slack=settings,
                             with_adapters=True,
                             **sections)
        adapter = app.messengers["slack"]
        assert isinstance(adapter, SlackAdapter)
        await adapter.wait_connected(CONNECT_TIMEOUT)
        yield SlackProcbot(app, fake, adapter)
    finally:
        if own_fake:
            await fake.stop()
