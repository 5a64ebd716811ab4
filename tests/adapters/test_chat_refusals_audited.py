"""Every request gets an audit row, also the ones an adapter refuses itself; autocomplete offers only what works.

Real slack-bolt and discord.py against the fakes.
"""

from __future__ import annotations

from typing import Any

from core.store.registry import AuditRow
from tests.conftest import sleeper
from tests.fakes.discord_harness import OPS_ROLE, discord_procbot
from tests.fakes.slack_harness import slack_procbot
from tests.helpers import wait_until_true


def prog(name: str, group: str | None = "workers") -> dict[str, Any]:
    return {"name": name, "command": sleeper(name), "group": group, "min_uptime": 0.05}


async def audit_rows(app: Any) -> list[AuditRow]:
    return await app.registry.audit_rows(50)


async def wait_audited(app: Any, outcome: str, command_part: str) -> AuditRow:
    found: list[AuditRow] = []

    async def check() -> bool:
        found[:] = [r for r in await audit_rows(app) if r.outcome == outcome and command_part in r.command]
        return bool(found)

    await wait_until_true(check, timeout=10)
    return found[0]


# ------------------------------------------------------------------ Slack


async def test_an_unknown_slack_button_value_is_answered_and_audited(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[prog("web")]) as h:
        body = await h.press("frob:nicate", user="U0OP")
        assert "Unknown button" in body["text"]
        row = await wait_audited(h.app, "invalid", "frob:nicate")
        assert (row.platform, row.user_id) == ("slack", "U0OP")


async def test_a_command_refused_because_slack_will_not_list_group_members_is_audited(make_app: Any) -> None:
    perms = {"default_role": "none", "grants": [{"role": "viewer", "platform": "slack", "groups": ["S0OPS"]}]}
    async with slack_procbot(make_app, programs=[prog("web")], permissions=perms) as h:
        h.fake.fail("usergroups.users.list", status=500, times=1000)
        body = await h.command("status web", user="U0MEMBER")
        assert "Slack is not answering" in body["text"]
        row = await wait_audited(h.app, "refused", "status web")
        assert row.user_id == "U0MEMBER" and "Slack is not answering" in row.detail


# ------------------------------------------------------------------ Discord


async def test_a_discord_subcommand_this_build_does_not_know_is_audited(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog("web")]) as h:
        rec = await h.command("frobnicate", user=h.viewer)
        assert rec.ephemeral and "not available" in rec.text()
        row = await wait_audited(h.app, "refused", "/proc frobnicate")
        assert row.platform == "discord" and row.user_id == str(h.viewer.id)


async def test_a_stale_discord_button_is_refused_and_audited(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog("web")]) as h:
        message = {"id": "1", "channel_id": h.fake.channel_id, "content": "", "type": 0, "author": h.fake.bot,
                   "attachments": [], "embeds": [], "components": [], "mentions": [], "mention_roles": [],
                   "pinned": False, "tts": False, "mention_everyone": False,
                   "timestamp": "2024-01-01T00:00:00+00:00", "edited_timestamp": None, "flags": 0}
        rec = await h.fake.click(message, "procbot:#0123456789abcdef0123456789abcdef", user=h.operator)
        await h.fake.wait_answered(rec)
        assert "expired" in rec.text()
        row = await wait_audited(h.app, "refused", "button (expired)")
        assert row.user_id == str(h.operator.id)


async def test_a_discord_command_refused_while_shutting_down_is_audited(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog("web")]) as h:
        h.adapter._stopping = True  # the flag DiscordAdapter.stop() raises first, while it drains in-flight work
        try:
            rec = await h.command("status", {"target": "web"}, user=h.viewer)
        finally:
            h.adapter._stopping = False
        assert rec.ephemeral and "shutting down" in rec.text()
        row = await wait_audited(h.app, "refused", "status web")
        assert "shutting down" in row.detail


# ------------------------------------------------------------------ autocomplete


async def test_autocomplete_offers_a_group_only_to_someone_granted_every_program_in_it(make_app: Any) -> None:
    perms = {"default_role": "viewer",
             "grants": [{"role": "operator", "platform": "discord", "groups": [OPS_ROLE], "programs": ["wk-1"]}]}
    async with discord_procbot(make_app, programs=[prog("wk-1"), prog("wk-2")], permissions=perms) as h:
        rec = await h.fake.autocomplete("restart", {"target": ""}, "target", user=h.operator)
        await h.fake.wait_answered(rec)
        assert [c["value"] for c in rec.choices] == ["wk-1"]


async def test_logs_autocomplete_leaves_out_watched_programs_and_groups(make_app: Any, tmp_path: Any) -> None:
    pidfile = tmp_path / "ext.pid"
    pidfile.write_text("1\n")
    async with discord_procbot(make_app, programs=[prog("web")],
                               watch=[{"name": "ext", "pidfile": str(pidfile)}]) as h:
        rec = await h.fake.autocomplete("logs", {"program": ""}, "program", user=h.viewer)
        await h.fake.wait_answered(rec)
        assert [c["value"] for c in rec.choices] == ["web"]
