"""A crash reaches a ``[[webhook]]`` through the outbox: signed, retried, recorded, secret kept home."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.extensions import Alerting, install_extensions
from core.actor import Actor, CommandContext
from tests.adapters.webhook.receiver import Answer, Receiver
from tests.alert_fixtures import alert_program, wait_logged

SECRET = "whsec-3f9a7c1e5b2d4f60a8e1"
CLI = CommandContext(Actor("cli", "root", local=True))


@dataclass
class WebhookRig:
    app: App
    alerting: Alerting
    receiver: Receiver

    async def crash(self, name: str = "web") -> int:
        st = self.app.supervisor.state(name)
        assert st.pid is not None
        await wait_logged(self.app, name, f"{name} starting up")
        pid = st.pid
        os.kill(pid, 9)
        return pid

    async def outbox(self) -> list[tuple[Any, ...]]:
        return await self.app.registry.fetch_all(
            "SELECT destination, action, attempts, delivered_at IS NOT NULL, failed, last_error FROM outbox")


@asynccontextmanager
async def webhook_rig(make_app: Any, tmp_path: Path, answers: list[Answer] | None = None,
                      **webhook: Any) -> AsyncIterator[WebhookRig]:
    """procbot with alerting and a ``[[webhook]] name = "ops"`` signed with SECRET (from a file)."""
    secret_file = tmp_path / "ops.secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    async with Receiver(secret=SECRET, answers=answers) as receiver:
        hook = {"name": "ops", "url": receiver.url, "secret_file": str(secret_file),
                "headers": {"X-Team": "platform"}, **webhook}
        app = await make_app([alert_program("web", min_uptime=30)], start=False, with_adapters=True,
                             webhook=[hook], alerts={"route": [{"to": ["webhook:ops"]}]})
        alerting = install_extensions(app, outbox_backoff=0.05)
        await app.start()
        await app.messengers["webhook"].wait_connected(5)  # type: ignore[attr-defined]
        yield WebhookRig(app, alerting, receiver)
        await app.stop(stop_programs=True)


async def test_a_crash_reaches_the_webhook_as_one_signed_post_with_the_incident_fields(
        make_app: Any, tmp_path: Path) -> None:
    async with webhook_rig(make_app, tmp_path) as rig:
        await rig.crash()
        await rig.receiver.wait_requests(1)
        await rig.alerting.policy.settle()
        assert await rig.alerting.outbox.drain(10)

        [req] = rig.receiver.received
        assert req.signed_ok
        assert req.headers["Content-Type"] == "application/json"
        assert req.headers["X-Team"] == "platform"
        body = req.json()
        assert (body["kind"], body["host"], body["webhook"], body["tone"]) == ("alert", "testhost", "ops", "error")
        assert body["title"] == "web crashed on testhost"
        assert body["data"]["program"] == "web" and body["data"]["cause"] == "crashed"
        assert body["data"]["state"] == "open" and body["data"]["crashes"] == 1
        assert body["fields"]["Exit"] == "killed by SIGKILL"
        assert "web starting up" in body["logs"]
        assert await rig.outbox() == [("webhook:ops", "post", 0, 1, 0, None)]


async def test_a_receiver_answering_500_then_200_gets_the_alert_delivered_once_on_the_retry(
        make_app: Any, tmp_path: Path) -> None:
    async with webhook_rig(make_app, tmp_path, answers=[Answer(500, text="upstream down")]) as rig:
        await rig.crash()
        await rig.receiver.wait_requests(2)
        await rig.alerting.policy.settle()
        assert await rig.alerting.outbox.drain(10)

        first, second = rig.receiver.received
        assert (first.status, second.status) == (500, 200)
        assert first.body == second.body and second.signed_ok
        assert len(rig.receiver.accepted()) == 1
        assert await rig.outbox() == [("webhook:ops", "post", 1, 1, 0, None)]  # one failed attempt, then sent


async def test_a_429_is_retried_no_sooner_than_its_retry_after(make_app: Any, tmp_path: Path) -> None:
    async with webhook_rig(make_app, tmp_path, answers=[Answer(429, headers={"Retry-After": "1"})]) as rig:
        await rig.crash()
        first, second = await rig.receiver.wait_requests(2)
        assert (first.status, second.status) == (429, 200)
        assert second.at - first.at >= 1.0  # the outbox's own back-off here is 0.05 s
        assert await rig.alerting.outbox.drain(10)
        assert await rig.outbox() == [("webhook:ops", "post", 1, 1, 0, None)]


async def test_a_receiver_refusing_with_a_4xx_fails_the_alert_visibly_without_retrying(
        make_app: Any, tmp_path: Path) -> None:
    async with webhook_rig(make_app, tmp_path, answers=[Answer(404, text="no such hook")]) as rig:
        await rig.crash()
        await rig.receiver.wait_requests(1)
        await rig.alerting.policy.settle()
        assert await rig.alerting.outbox.drain(10)
        assert len(rig.receiver.received) == 1
        [(_, _, _, delivered, failed, error)] = await rig.outbox()
        assert (delivered, failed) == (0, 1) and "HTTP 404" in error
        status = await rig.app.dispatcher.handle("status", CLI)
        assert "undelivered to webhook:ops" in status.text


async def test_the_signing_secret_appears_neither_in_logs_nor_in_the_state_directory(
        make_app: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with webhook_rig(make_app, tmp_path, answers=[Answer(500, text="echo")]) as rig:
        await rig.crash()
        await rig.receiver.wait_requests(2)
        assert await rig.alerting.outbox.drain(10)
        state_dir = rig.app.config.state_dir
    assert SECRET not in caplog.text
    for path in state_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path

