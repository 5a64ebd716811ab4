"""Buttons and autocomplete over the fake Discord: confirmation flow, alert buttons, choices."""

from __future__ import annotations

import sys
from typing import Any

from core.process.logs import log_path
from core.reply import Button, Reply
from tests.alert_fixtures import FakeClock
from tests.conftest import sleeper
from tests.fakes.discord_harness import OPS_ROLE, discord_procbot
from tests.fakes.discord_server import DEFERRED_UPDATE, UPDATE_MESSAGE
from tests.helpers import alive, wait_for


def prog(name: str, group: str | None = "workers") -> dict[str, Any]:
    return {"name": name, "command": sleeper(name), "group": group, "min_uptime": 0.05}


WORKERS = [prog("w1"), prog("w2")]


def pids(h: Any, *names: str) -> dict[str, int | None]:
    return {n: h.app.supervisor.state(n).pid for n in names}


async def test_a_group_action_asks_the_asker_to_confirm_privately(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=WORKERS) as h:
        before = pids(h, "w1", "w2")
        rec = await h.command("restart", {"target": "group:workers"})
        assert rec.ephemeral and "Restart 2 programs?" in rec.text()
        assert [b["label"] for b in rec.buttons()] == ["Confirm", "Cancel"]
        assert all(b["custom_id"].startswith("procbot:") for b in rec.buttons())
        assert pids(h, "w1", "w2") == before


async def test_confirm_by_the_asker_acts_and_replaces_the_prompt(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=WORKERS) as h:
        before = pids(h, "w1", "w2")
        prompt = await h.command("restart", {"target": "group:workers"})
        press = await h.click(prompt, "Confirm")
        after = pids(h, "w1", "w2")
        assert all(after[n] != before[n] and alive(after[n] or 0) for n in after)
        assert not any(alive(p or 0) for p in before.values())
        assert press.source_message is not None
        # the confirmation message itself now shows the result, without buttons
        assert press.last_message is not None and press.last_message["id"] == prompt.last_message["id"]
        assert "2 of 2 done" in press.text() and press.buttons() == []


async def test_someone_else_cannot_confirm_and_the_prompt_is_untouched(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=WORKERS) as h:
        before = pids(h, "w1", "w2")
        prompt = await h.command("restart", {"target": "group:workers"})
        other_operator = h.fake.user("oscar", roles=[OPS_ROLE])
        press = await h.click(prompt, "Confirm", user=other_operator)
        assert press.callback_type != UPDATE_MESSAGE and press.ephemeral
        assert "Only the person who asked" in press.text()
        assert pids(h, "w1", "w2") == before
        assert [b["label"] for b in prompt.buttons()] == ["Confirm", "Cancel"]
        rows = await h.app.registry.audit_rows(5)
        assert any(r.user_id == other_operator.id and r.outcome == "refused" for r in rows)


async def test_cancel_runs_nothing(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=WORKERS) as h:
        before = pids(h, "w1", "w2")
        prompt = await h.click(await h.command("stop", {"target": "group:workers"}), "Cancel")
        assert prompt.callback_type == UPDATE_MESSAGE and "Cancelled" in prompt.text()
        assert pids(h, "w1", "w2") == before and all(alive(p or 0) for p in before.values())


async def test_an_expired_confirmation_does_nothing(make_app: Any) -> None:
    clock = FakeClock()
    perms = {"default_role": "viewer", "confirm_timeout": 60,
             "grants": [{"role": "operator", "platform": "discord", "groups": [OPS_ROLE]}]}
    async with discord_procbot(make_app, programs=WORKERS, permissions=perms, clock=clock) as h:
        before = pids(h, "w1", "w2")
        prompt = await h.command("stop", {"target": "group:workers"})
        clock.advance(61)  # past the timeout, without sleeping through it
        press = await h.click(prompt, "Confirm")
        assert press.ephemeral and "expired" in press.text()
        assert pids(h, "w1", "w2") == before and all(alive(p or 0) for p in before.values())


async def test_an_alert_button_runs_its_command_as_the_presser(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog("web")]) as h:
        pid = h.app.supervisor.state("web").pid
        alert = Reply(title="web crashed", buttons=[Button("Restart", "cmd:restart web", "primary")])
        ref = await h.adapter.post(h.fake.channel_id, alert)
        (message,) = h.fake.channel_messages[h.fake.channel_id]
        assert message["id"] == ref
        button = message["components"][0]["components"][0]

        refused = await h.fake.wait_answered(await h.fake.click(message, button["custom_id"], user=h.viewer))
        assert refused.ephemeral and "operator role" in refused.text()
        assert h.app.supervisor.state("web").pid == pid

        done = await h.fake.wait_answered(await h.fake.click(message, button["custom_id"], user=h.operator))
        assert "Restarted web" in done.text() and h.app.supervisor.state("web").pid != pid
        assert message["embeds"][0]["title"] == "web crashed"  # the alert itself is left as it was


async def test_a_button_from_a_forgotten_long_value_is_answered_not_ignored(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog("web")]) as h:
        rec = await h.fake.click({"id": "1", "channel_id": h.fake.channel_id, "content": "", "type": 0,
                                  "author": h.fake.bot, "attachments": [], "embeds": [], "components": [],
                                  "mentions": [], "mention_roles": [], "pinned": False, "tts": False,
                                  "mention_everyone": False, "timestamp": "2024-01-01T00:00:00+00:00",
                                  "edited_timestamp": None, "flags": 0},
                                 "procbot:#0123456789abcdef0123456789abcdef", user=h.operator)
        await h.fake.wait_answered(rec)
        assert rec.ephemeral and "expired" in rec.text()


async def test_autocomplete_offers_only_programs_the_user_may_act_on(make_app: Any) -> None:
    perms = {"default_role": "viewer",
             "grants": [{"role": "operator", "platform": "discord", "groups": [OPS_ROLE],
                         "programs": ["group:workers"]}]}
    programs = [prog("web-1"), prog("web-2"), prog("db", group=None)]
    async with discord_procbot(make_app, programs=programs, permissions=perms) as h:
        rec = await h.fake.autocomplete("restart", {"target": ""}, "target", user=h.operator)
        await h.fake.wait_answered(rec)
        names = [c["value"] for c in rec.choices]
        assert names == ["web-1", "web-2", "group:workers"]

        rec = await h.fake.autocomplete("restart", {"target": "web-2"}, "target", user=h.operator)
        await h.fake.wait_answered(rec)
        assert [c["value"] for c in rec.choices] == ["web-2"]

        rec = await h.fake.autocomplete("restart", {"target": ""}, "target", user=h.viewer)
        await h.fake.wait_answered(rec)
        assert rec.choices == []


async def test_a_slow_confirmed_action_is_acknowledged_first_then_replaces_the_prompt(make_app: Any) -> None:
    stubborn = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "print('ignoring SIGTERM', flush=True)\nwhile True: time.sleep(3600)")
    # they ignore SIGTERM, so stopping them takes stop_timeout (2.9 s) before SIGKILL: longer than the 2 s
    # procbot waits before deferring, shorter than Discord's 3 s
    programs = [{"name": n, "command": [sys.executable, "-c", stubborn + f"  # {n}"], "group": "slow",
                 "stop_timeout": 2.9, "min_uptime": 0.05} for n in ("s1", "s2")]
    async with discord_procbot(make_app, programs=programs) as h:
        paths = [log_path(h.app.config.log_dir, n) for n in ("s1", "s2")]
        await wait_for(lambda: all(p.exists() and "ignoring SIGTERM" in p.read_text() for p in paths))
        stubborn_pids = [h.app.supervisor.state(n).pid or 0 for n in ("s1", "s2")]
        prompt = await h.command("stop", {"target": "group:slow"})
        alive_at_ack: dict[str, bool] = {}
        h.fake.on_callback = lambda rec: alive_at_ack.setdefault(rec.id, all(alive(p) for p in stubborn_pids))
        press = await h.click(prompt, "Confirm", timeout=15)
        assert press.callback_type == DEFERRED_UPDATE
        # acknowledged while the programs were still being stopped, i.e. before the SIGKILL at 2.9 s
        assert alive_at_ack[press.id] is True
        assert press.edits and "2 of 2 done" in press.text() and press.buttons() == []
        assert all(h.app.supervisor.state(n).state == "stopped" for n in ("s1", "s2"))
        assert not any(alive(p) for p in stubborn_pids)
