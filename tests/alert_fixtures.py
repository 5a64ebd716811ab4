"""Helpers for the alert, outbox and digest tests: a clock tests can move, a Messenger that records.

``FakeClock`` runs with real time (real processes, pidfds and timers keep
working) plus an offset that a test advances to jump over a repeat interval,
a silence or a cron time without sleeping.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.app import App
from bot.extensions import Alerting, install_extensions
from core.actor import Actor, CommandContext
from core.errors import DeliveryError
from core.process.logs import log_path
from core.reply import Reply
from tests.conftest import MakeApp
from tests.helpers import wait_for


class FakeClock:
    def __init__(self, start: float | None = None) -> None:
        self.offset = 0.0 if start is None else start - time.time()

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def set(self, at: float) -> None:
        self.offset = at - time.time()


@dataclass
class Sent:
    ref: str
    channel: str
    reply: Reply
    thread_ref: str | None = None
    edits: list[Reply] = field(default_factory=list)

    @property
    def current(self) -> Reply:
        return self.edits[-1] if self.edits else self.reply


class RecordingMessenger:
    """A Messenger that keeps every message; ``fail_with`` queues errors for the next calls.

    ``can_edit=False`` / ``can_thread=False`` stand in for a destination like a
    webhook: an ``update``, or a post with a ``thread_ref``, is then a bug and fails the test.
    """

    can_edit: bool = True
    can_thread: bool = True

    def __init__(self, platform: str = "slack", *, can_edit: bool = True, can_thread: bool = True) -> None:
        self.platform = platform
        self.can_edit = can_edit
        self.can_thread = can_thread
        self.messages: list[Sent] = []
        self.calls = 0
        self.fail_with: deque[DeliveryError] = deque()
        self._refs = 0
        self.changed = asyncio.Event()

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.fail_with:
            raise self.fail_with.popleft()

    async def post(self, channel: str, reply: Reply, thread_ref: str | None = None) -> str:
        assert self.can_thread or thread_ref is None, "a thread reply to a destination that cannot thread"
        self._maybe_fail()
        self._refs += 1
        ref = f"{channel}:{self._refs}"
        self.messages.append(Sent(ref, channel, reply, thread_ref))
        self.changed.set()
        return ref

    async def update(self, channel: str, ref: str, reply: Reply) -> None:
        assert self.can_edit, "an edit sent to a destination that cannot edit"
        self._maybe_fail()
        msg = next(m for m in self.messages if m.ref == ref)
        msg.edits.append(reply)
        self.changed.set()

    def top_level(self) -> list[Sent]:
        return [m for m in self.messages if m.thread_ref is None]

    def replies_to(self, ref: str) -> list[Sent]:
        return [m for m in self.messages if m.thread_ref == ref]

    def of_kind(self, kind: str) -> list[Sent]:
        return [m for m in self.messages if m.reply.data.get("kind") == kind]


@dataclass
class AlertRig:
    app: App
    alerting: Alerting
    rec: RecordingMessenger

    async def settle(self, timeout: float = 10.0) -> None:
        """Everything published so far handled, and everything queued delivered."""
        await asyncio.wait_for(self.alerting.policy.settle(), timeout)
        assert await self.alerting.outbox.drain(timeout), "outbox did not drain"

    def pid(self, name: str) -> int:
        pid = self.app.supervisor.state(name).pid
        assert pid is not None
        return pid

    async def wait_running(self, name: str, timeout: float = 10.0) -> int:
        st = self.app.supervisor.state(name)
        await wait_for(lambda: st.state.value == "running", timeout)
        assert st.pid is not None
        return st.pid

    async def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        pid = self.pid(name)
        os.kill(pid, sig)
        return pid

    async def tick(self) -> None:
        await self.alerting.policy.tick()
        await self.alerting.outbox.drain()


def alert_program(name: str, *, min_uptime: float = 0.3, **extra: Any) -> dict[str, Any]:
    """A python program that logs a line and sleeps; short min_uptime so recovery comes quickly."""
    from tests.conftest import PY

    code = f"import sys, time\nprint('{name} starting up', flush=True)\nwhile True: time.sleep(3600)"
    return {"name": name, "command": [PY, "-c", code], "min_uptime": min_uptime,
            "backoff": {"initial": 0.05, "factor": 1.0, "max": 0.05}, **extra}


@asynccontextmanager
async def alert_rig(
    make_app: MakeApp,
    programs: list[dict[str, Any]],
    *,
    route_to: str = "slack:CALERTS",
    alerts: dict[str, Any] | None = None,
    platform: str = "slack",
    rec: RecordingMessenger | None = None,
    **kwargs: Any,
) -> AsyncIterator[AlertRig]:
    """A started App with alerting installed; alerts go to a RecordingMessenger standing in for ``platform``.

    Pass ``rec`` to keep one recorder across Apps (a restart edits what the first run posted).
    """
    settings = {"route": [{"match": ["*"], "to": [route_to]}], **(alerts or {})}
    app = await make_app(programs, start=False, alerts=settings, **kwargs)
    rec = rec if rec is not None else RecordingMessenger(platform)
    app.messengers[platform] = rec
    alerting = install_extensions(app, outbox_backoff=0.05)
    await app.start()
    yield AlertRig(app, alerting, rec)


def operator(user: str = "U0OP") -> CommandContext:
    return CommandContext(Actor("slack", user, user.lower()), channel="CALERTS")


OPERATOR_GRANTS = {"grants": [{"role": "operator", "users": ["U0OP"]}, {"role": "viewer", "users": ["U0VIEW"]}]}


# ------------------------------------------------------------------ real adapters against the fakes


@dataclass
class PlatformRig:
    app: App
    alerting: Alerting
    fake: Any
    adapter: Any

    async def settle(self, timeout: float = 15.0) -> None:
        await asyncio.wait_for(self.alerting.policy.settle(), timeout)
        assert await self.alerting.outbox.drain(timeout), "outbox did not drain"


@asynccontextmanager
async def slack_alert_rig(make_app: MakeApp, programs: list[dict[str, Any]], *, channel: str = "CALERTS",
                          **kwargs: Any) -> AsyncIterator[PlatformRig]:
    """procbot with alerting and its real Slack adapter, talking to a fake Slack."""
    from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, FakeSlack

    async with FakeSlack() as fake:
        env = dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN)
        app = await make_app(programs, start=False, with_adapters=True, environ=env,
                             slack={"api_url": fake.api_url}, alerts={"route": [{"to": [f"slack:{channel}"]}]},
                             **kwargs)
        alerting = install_extensions(app, outbox_backoff=0.05)
        await app.start()
        adapter = app.messengers["slack"]
        await adapter.wait_connected(10)  # type: ignore[attr-defined]
        yield PlatformRig(app, alerting, fake, adapter)
        await app.stop(stop_programs=True)


@asynccontextmanager
async def discord_alert_rig(make_app: MakeApp, programs: list[dict[str, Any]],
                            **kwargs: Any) -> AsyncIterator[PlatformRig]:
    """procbot with alerting and its real Discord adapter, talking to a fake Discord."""
    from tests.fakes.discord_server import FakeDiscord

    async with FakeDiscord() as fake:
        env = dict(os.environ, DISCORD_TOKEN=fake.token)
        app = await make_app(programs, start=False, with_adapters=True, environ=env,
                             discord={"api_base": fake.api_base, "gateway_url": fake.gateway_url,
                                      "guilds": [fake.guild_id]},
                             alerts={"route": [{"to": [f"discord:{fake.channel_id}"]}]}, **kwargs)
        alerting = install_extensions(app, outbox_backoff=0.05)
        await app.start()
        adapter = app.messengers["discord"]
        await adapter.wait_connected(10)  # type: ignore[attr-defined]
        yield PlatformRig(app, alerting, fake, adapter)
        await app.stop(stop_programs=True)


async def wait_logged(app, name: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until the program's log file holds ``text``: the program is up and talking."""
    path = log_path(app.config.log_dir, name)
    await wait_for(lambda: path.exists() and text in path.read_text())


async def incident_rows(app) -> list[tuple]:  # type: ignore[no-untyped-def]
    return await app.registry.fetch_all("SELECT id, program, resolved_at, crashes FROM incidents ORDER BY id")
