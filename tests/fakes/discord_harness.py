"""procbot wired to the fake Discord, the way ``procbot run`` wires it.

The App is built from a config with a ``[discord]`` section pointing at the
fake (``api_base``, ``gateway_url``, one guild) and the token in its
environment, so the adapter under test is the one ``bot.platforms``
builds: real discord.py, real dispatcher, real processes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from adapters.discord.adapter import DiscordAdapter
from tests.fakes.discord_server import FakeDiscord, FakeUser, InteractionRecord

CONNECT_TIMEOUT = 10.0
#: role IDs the tests grant; Discord role IDs are snowflakes
OPS_ROLE = "900000000000000001"
ADMIN_ROLE = "900000000000000002"
PERMS: dict[str, Any] = {
    "default_role": "viewer",
    "grants": [
        {"role": "operator", "platform": "discord", "groups": [OPS_ROLE]},
        {"role": "admin", "platform": "discord", "groups": [ADMIN_ROLE]},
    ],
}

MakeApp = Callable[..., Awaitable[Any]]


@dataclass
class DiscordProcbot:
    app: Any
    fake: FakeDiscord
    adapter: DiscordAdapter
    operator: FakeUser
    viewer: FakeUser
    admin: FakeUser

    async def command(self, sub: str, options: dict[str, Any] | None = None, *, user: FakeUser | None = None,
                      timeout: float = 10.0) -> InteractionRecord:
        """Run ``/proc sub ...`` (as the operator unless told) and wait until it is answered."""
        rec = await self.fake.command(sub, options, user=user or self.operator)
        return await self.fake.wait_answered(rec, timeout)

    async def click(self, rec: InteractionRecord, label: str, *, user: FakeUser | None = None,
                    timeout: float = 10.0) -> InteractionRecord:
        """Press the button labelled ``label`` on the message ``rec`` ended with."""
        assert rec.last_message is not None, "no message to click on"
        button = next(b for b in rec.buttons() if b["label"] == label)
        press = await self.fake.click(rec.last_message, button["custom_id"], user=user or self.operator)
        return await self.fake.wait_answered(press, timeout)


@asynccontextmanager
async def discord_procbot(
    make_app: MakeApp,
    *,
    programs: list[dict[str, Any]] | None = None,
    permissions: dict[str, Any] | None = None,
    discord: dict[str, Any] | None = None,
    fake: FakeDiscord | None = None,
    **sections: Any,
) -> AsyncIterator[DiscordProcbot]:
    """A started App with its Discord adapter connected to a (started) fake Discord."""
    own_fake = fake is None
    fake = fake or await FakeDiscord().start()
    try:
        settings: dict[str, Any] = {"api_base": fake.api_base, "gateway_url": fake.gateway_url,
                                    "guilds": [fake.guild_id], **(discord or {})}
        environ = dict(os.environ, DISCORD_TOKEN=fake.token)
        app = await make_app(programs or [], permissions=PERMS if permissions is None else permissions,
                             environ=environ, discord=settings, with_adapters=True, **sections)
        adapter = app.messengers["discord"]
        assert isinstance(adapter, DiscordAdapter)
        await adapter.wait_connected(CONNECT_TIMEOUT)
        yield DiscordProcbot(
            app, fake, adapter,
            operator=fake.user("olive", roles=[OPS_ROLE]),
            viewer=fake.user("victor"),
            admin=fake.user("ada", roles=[ADMIN_ROLE]),
        )
    finally:
        if own_fake:
            await fake.close()
