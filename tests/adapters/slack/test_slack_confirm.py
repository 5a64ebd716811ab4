"""Buttons over Socket Mode: the confirmation flow for multi-program actions, and alert buttons."""

from __future__ import annotations

from typing import Any

from tests.alert_fixtures import FakeClock
from tests.conftest import sleeper
from tests.fakes.slack_harness import SlackProcbot, slack_procbot
from tests.helpers import alive

ASKER = "U0OP"
OTHER_OPERATOR = "U0OP2"
PERMS: dict[str, Any] = {
    "default_role": "viewer",
    "grants": [{"role": "operator", "platform": "slack", "users": [ASKER, OTHER_OPERATOR]}],
}
WORKERS = [{"name": f"w{i}", "command": sleeper(f"w{i}"), "group": "workers"} for i in range(2)]


def pids(h: SlackProcbot) -> dict[str, int | None]:
    return {p["name"]: h.app.supervisor.state(p["name"]).pid for p in WORKERS}


def buttons(body: dict[str, Any]) -> dict[str, str]:
    actions = [b for b in body["blocks"] if b["type"] == "actions"]
    return {e["text"]["text"]: e["value"] for a in actions for e in a["elements"]}


def all_text(body: dict[str, Any]) -> str:
    return "\n".join([body.get("text", "")] + [b["text"]["text"] for b in body["blocks"] if "text" in b])


async def ask(h: SlackProcbot, text: str = "restart group:workers") -> dict[str, str]:
    body = await h.command(text, user=ASKER)
    assert body["response_type"] == "ephemeral"
    return buttons(body)


async def test_a_multi_program_restart_asks_for_confirmation_and_touches_nothing(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WORKERS, permissions=PERMS) as h:
        before = pids(h)
        choices = await ask(h)
        assert set(choices) == {"Confirm", "Cancel"}
        assert pids(h) == before


async def test_the_asker_confirming_restarts_every_program_and_replaces_the_prompt(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WORKERS, permissions=PERMS) as h:
        before = pids(h)
        choices = await ask(h)
        body = await h.press(choices["Confirm"], user=ASKER)
        after = pids(h)
        assert body.get("replace_original") is True
        assert "2 of 2 done" in all_text(body)
        for name, pid in before.items():
            assert pid is not None and not alive(pid)
            assert after[name] != pid and alive(after[name])  # type: ignore[arg-type]


async def test_someone_else_pressing_confirm_is_refused_and_the_prompt_stays(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WORKERS, permissions=PERMS) as h:
        before = pids(h)
        choices = await ask(h)
        body = await h.press(choices["Confirm"], user=OTHER_OPERATOR, is_ephemeral=False)
        assert "Only the person who asked" in all_text(body)
        assert body["response_type"] == "ephemeral" and not body.get("replace_original")
        assert pids(h) == before
        # the prompt is still good for the asker
        assert "2 of 2 done" in all_text(await h.press(choices["Confirm"], user=ASKER))


async def test_an_expired_confirmation_is_refused(make_app: Any) -> None:
    clock = FakeClock()
    perms = {**PERMS, "confirm_timeout": 60}
    async with slack_procbot(make_app, programs=WORKERS, permissions=perms, clock=clock) as h:
        before = pids(h)
        choices = await ask(h)
        clock.advance(61)  # past the timeout, without sleeping through it
        body = await h.press(choices["Confirm"], user=ASKER)
        assert "expired" in all_text(body)
        assert not body.get("replace_original")
        assert pids(h) == before


async def test_cancel_runs_nothing_and_replaces_the_prompt(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WORKERS, permissions=PERMS) as h:
        before = pids(h)
        choices = await ask(h, "stop group:workers")
        body = await h.press(choices["Cancel"], user=ASKER)
        assert body.get("replace_original") is True and "Cancelled" in all_text(body)
        assert pids(h) == before and all(alive(p) for p in before.values() if p)


async def test_a_confirmation_is_used_once(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WORKERS, permissions=PERMS) as h:
        choices = await ask(h)
        await h.press(choices["Confirm"], user=ASKER)
        after = pids(h)
        body = await h.press(choices["Confirm"], user=ASKER)
        assert "expired or was already used" in all_text(body)
        assert pids(h) == after


async def test_an_alert_button_acts_for_the_presser_without_replacing_the_alert(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WORKERS, permissions=PERMS) as h:
        pid = h.app.supervisor.state("w0").pid
        body = await h.press("cmd:restart w0", user=ASKER, is_ephemeral=False)
        assert "Restarted w0" in all_text(body)
        assert not body.get("replace_original")
        assert h.app.supervisor.state("w0").pid != pid


async def test_an_alert_button_pressed_by_a_viewer_is_refused(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=WORKERS, permissions=PERMS) as h:
        pid = h.app.supervisor.state("w0").pid
        body = await h.press("cmd:restart w0", user="U0VIEW", is_ephemeral=False)
        assert "operator role" in all_text(body) and body["response_type"] == "ephemeral"
        assert h.app.supervisor.state("w0").pid == pid
