"""HTTP mode: procbot serves bolt's aiohttp app; Slack's v0 signature decides who gets in."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import sleeper
from tests.fakes.slack_harness import slack_procbot
from tests.fakes.slack_server import (
    SIGNING_SECRET,
    action_body,
    block_action_payload,
    form_body,
    post_signed,
    sign,
    slash_payload,
)

PERMS = {"default_role": "viewer", "grants": [{"role": "operator", "platform": "slack", "users": ["U0OP"]}]}
HTTP = {"mode": "http", "http_path": "/slack/events"}
WEB = [{"name": "web", "command": sleeper("web")}]
WORKERS = [{"name": f"w{i}", "command": sleeper(f"w{i}"), "group": "workers"} for i in range(2)]


def text_of(body: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in body["blocks"] if "text" in b)


async def test_a_correctly_signed_command_is_acked_and_answered(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS, slack=HTTP) as h:
        pid = h.app.supervisor.state("web").pid
        body = await h.command("restart web")
        assert "Restarted web" in text_of(body)
        assert h.app.supervisor.state("web").pid != pid


async def test_a_bad_signature_is_rejected_with_401_and_runs_nothing(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS, slack=HTTP) as h:
        pid = h.app.supervisor.state("web").pid
        url = h.fake.new_response_url()
        body = form_body(slash_payload("stop web", user_id="U0OP", response_url=url))
        status, _ = await post_signed(h.endpoint, body, secret="not-the-signing-secret")
        assert status == 401
        assert h.fake.responses_to(url) == [] and h.app.supervisor.state("web").pid == pid


async def test_a_tampered_body_is_rejected_with_401(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS, slack=HTTP) as h:
        url = h.fake.new_response_url()
        good = form_body(slash_payload("status", user_id="U0VIEW", response_url=url))
        ts = int(time.time())
        signature = sign(SIGNING_SECRET, str(ts), good)
        tampered = good.replace("U0VIEW", "U0OP")
        status, _ = await post_signed(h.endpoint, tampered, timestamp=ts, signature=signature)
        assert status == 401
        assert h.fake.responses_to(url) == []
        rows = await h.app.registry.audit_rows(5)
        assert not any(r.user_id in ("U0OP", "U0VIEW") for r in rows)  # never reached the dispatcher


async def test_a_timestamp_older_than_five_minutes_is_rejected_with_401(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WEB, permissions=PERMS, slack=HTTP) as h:
        pid = h.app.supervisor.state("web").pid
        url = h.fake.new_response_url()
        body = form_body(slash_payload("stop web", user_id="U0OP", response_url=url))
        status, _ = await post_signed(h.endpoint, body, timestamp=int(time.time()) - 6 * 60)
        assert status == 401
        assert h.fake.responses_to(url) == [] and h.app.supervisor.state("web").pid == pid

        # the same request signed now is let in: it was the age that was refused
        status, _ = await post_signed(h.endpoint, body)
        assert status == 200
        assert "Stopped web" in text_of(await h.fake.wait_response(url))


async def test_buttons_work_in_http_mode_too(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WORKERS, permissions=PERMS, slack=HTTP) as h:
        before = {n: h.app.supervisor.state(n).pid for n in ("w0", "w1")}
        prompt = await h.command("restart group:workers")
        confirm = next(e["value"] for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"]
                       if e["text"]["text"] == "Confirm")
        url = h.fake.new_response_url()
        status, _ = await post_signed(h.endpoint, action_body(
            block_action_payload(confirm, user_id="U0OP", response_url=url)))
        assert status == 200
        body = await h.fake.wait_response(url)
        assert body.get("replace_original") is True
        assert all(h.app.supervisor.state(n).pid != pid for n, pid in before.items())
