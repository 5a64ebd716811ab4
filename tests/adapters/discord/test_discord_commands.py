"""/proc slash commands: real discord.py, real dispatcher, real processes, fake Discord."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from adapters.discord.commands import options
from core.commands.catalog import SIGNALS, VERBS
from core.process.logs import log_path
from tests.conftest import sleeper
from tests.fakes.discord_harness import OPS_ROLE, discord_procbot
from tests.fakes.discord_server import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
)
from tests.helpers import alive, wait_for


def prog(name: str = "web", group: str | None = "workers") -> dict[str, Any]:
    return {"name": name, "command": sleeper(name), "group": group, "min_uptime": 0.05}


async def test_proc_is_synced_to_the_configured_guild_with_one_subcommand_per_verb(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog()]) as h:
        assert h.fake.sync_calls == [h.fake.guild_id]
        (proc,) = h.fake.synced_commands[h.fake.guild_id]
        subs = {o["name"]: o for o in proc["options"]}
        assert proc["name"] == "proc" and list(subs) == [v.name for v in VERBS]
        for v in VERBS:  # every argument Discord can offer is an option, under the catalog's name
            assert {o["name"] for o in subs[v.name].get("options", [])} == (
                {a.name for a in options(v)} | ({"public"} if v.public_flag else set())), v.name
        lines = next(o for o in subs["logs"]["options"] if o["name"] == "lines")
        assert lines["type"] == 4 and lines["min_value"] == 1 and not lines["required"]
        target = next(o for o in subs["restart"]["options"] if o["name"] == "target")
        assert target["required"] and target["autocomplete"]


async def test_status_answers_at_once_with_an_embed_table_showing_the_real_pid(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog()]) as h:
        await wait_for(lambda: h.app.supervisor.state("web").state == "running")
        pid = h.app.supervisor.state("web").pid
        rec = await h.command("status", user=h.viewer)
        assert rec.callback_type == CHANNEL_MESSAGE and rec.ephemeral
        (embed,) = rec.embeds
        assert embed["title"] == "Status on testhost"
        table = embed["description"].split("```")[1]
        assert "PROGRAM" in table and "STATE" in table
        row = next(line for line in table.splitlines() if " web " in line)
        assert row.startswith("🟢") and str(pid) in row


async def test_status_public_is_shown_to_the_channel(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog()]) as h:
        rec = await h.command("status", {"public": True}, user=h.viewer)
        assert rec.callback_type == CHANNEL_MESSAGE and not rec.ephemeral


async def test_stop_then_start_defer_and_act_on_the_real_process(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog()]) as h:
        pid = h.app.supervisor.state("web").pid
        rec = await h.command("stop", {"target": "web"})
        assert rec.callback_type == DEFERRED_CHANNEL_MESSAGE and rec.edits
        assert "Stopped web" in rec.text()
        assert not alive(pid) and h.app.supervisor.state("web").state == "stopped"

        rec = await h.command("start", {"target": "web"})
        new_pid = h.app.supervisor.state("web").pid
        assert rec.callback_type == DEFERRED_CHANNEL_MESSAGE and "Started web" in rec.text()
        assert new_pid != pid and alive(new_pid)


async def test_restart_replaces_the_process(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog()]) as h:
        pid = h.app.supervisor.state("web").pid
        rec = await h.command("restart", {"target": "web"})
        new_pid = h.app.supervisor.state("web").pid
        assert f"pid {new_pid}" in rec.text()
        assert not alive(pid) and alive(new_pid)


async def test_an_ungranted_user_is_refused_ephemerally_untouched_and_audited(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog()]) as h:
        pid = h.app.supervisor.state("web").pid
        rec = await h.command("stop", {"target": "web"}, user=h.viewer)
        assert rec.ephemeral and "operator role" in rec.text()
        assert alive(pid) and h.app.supervisor.state("web").pid == pid
        rows = await h.app.registry.audit_rows(5)
        refused = [r for r in rows if r.user_id == h.viewer.id and r.outcome == "refused"]
        assert refused and refused[0].platform == "discord" and refused[0].channel == h.fake.channel_id
        assert refused[0].command == "stop web"


async def test_a_refusal_stays_private_when_replies_are_public_by_config(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog()], discord={"public_replies": True}) as h:
        rec = await h.command("stop", {"target": "web"}, user=h.viewer)
        # deferred in public (the config asks for public results), the error then replaces it privately
        assert rec.deleted_original and rec.followups and rec.ephemeral
        assert "operator role" in rec.text()


async def test_a_member_role_grant_is_honoured_by_role_id(make_app: Any) -> None:
    perms = {"default_role": "none", "grants": [{"role": "operator", "platform": "discord", "groups": [OPS_ROLE]}]}
    async with discord_procbot(make_app, programs=[prog()], permissions=perms) as h:
        pid = h.app.supervisor.state("web").pid
        outsider = h.fake.user(OPS_ROLE)  # a display name equal to the role ID grants nothing
        refused = await h.command("restart", {"target": "web"}, user=outsider)
        assert refused.ephemeral and h.app.supervisor.state("web").pid == pid

        member = h.fake.user("mia", roles=["123456789012345678", OPS_ROLE])
        await h.command("restart", {"target": "web"}, user=member)
        assert h.app.supervisor.state("web").pid != pid


async def test_whoami_reports_the_member_role_ids(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog()]) as h:
        rec = await h.command("whoami")
        assert h.operator.id in rec.text() and OPS_ROLE in rec.text()


async def test_logs_lines_option_becomes_the_grammar_count(make_app: Any) -> None:
    echo = {"name": "talker", "command": ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 3600"]}
    async with discord_procbot(make_app, programs=[echo]) as h:
        path = log_path(h.app.config.log_dir, "talker")
        await wait_for(lambda: path.exists() and "line5" in path.read_text())
        rec = await h.command("logs", {"program": "talker", "lines": 2}, user=h.viewer)
        assert "line4" in rec.text() and "line5" in rec.text() and "line3" not in rec.text()


async def test_a_target_with_spaces_cannot_smuggle_flags_or_arguments(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog("a"), prog("b")]) as h:
        pids = {n: h.app.supervisor.state(n).pid for n in ("a", "b")}
        rec = await h.command("restart", {"target": "all --yes"})
        assert rec.ephemeral and "not a program name" in rec.text()
        assert {n: h.app.supervisor.state(n).pid for n in ("a", "b")} == pids


async def test_unknown_program_gets_a_did_you_mean(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog("webserver")]) as h:
        rec = await h.command("info", {"program": "websrever"}, user=h.viewer)
        assert rec.ephemeral and "webserver" in rec.text()


async def test_a_subcommand_this_build_does_not_know_gets_a_private_answer(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[prog()]) as h:
        rec = await h.command("frobnicate", user=h.viewer)
        assert rec.ephemeral and "not available" in rec.text()


# ------------------------------------------------------------------ answers Discord will not take


@pytest.fixture
def no_interaction_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """discord.py sleeps 1+2n s between its 5 tries of a webhook/callback call answered 5xx (25 s in all).

    Only that module's waits are skipped: the real client still makes every try against the fake.
    """
    import discord.webhook.async_ as webhook

    real_sleep = asyncio.sleep

    async def no_wait(delay: float, result: Any = None) -> Any:
        return await real_sleep(0, result)

    monkeypatch.setattr(webhook, "asyncio", SimpleNamespace(**{**vars(asyncio), "sleep": no_wait}))


def unanswered(caplog: pytest.LogCaptureFixture, rec: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "adapters.discord.adapter" and rec.id in r.getMessage()]


async def test_a_quick_answer_discord_keeps_refusing_with_5xx_is_logged_once_and_the_adapter_goes_on(
        make_app: Any, caplog: pytest.LogCaptureFixture, no_interaction_backoff: None) -> None:
    caplog.set_level(logging.WARNING)
    async with discord_procbot(make_app, programs=[prog()]) as h:
        rec = await h.fake.command("status", user=h.viewer, send=False)
        h.fake.fail_next(503, 1000, path=f"/interactions/{rec.id}/")
        await h.fake.dispatch("INTERACTION_CREATE", rec.payload)
        await wait_for(lambda: unanswered(caplog, rec))

        again = await h.command("status", user=h.viewer)
        assert "Status on testhost" in again.text()
        assert not rec.acked  # Discord never took an answer, so there is no message to tell the user in
        [line] = unanswered(caplog, rec)
        assert "could not answer Discord interaction" in line and "503" in line
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_deferred_answer_discord_keeps_refusing_with_5xx_is_logged_once_and_the_command_still_ran(
        make_app: Any, caplog: pytest.LogCaptureFixture, no_interaction_backoff: None) -> None:
    caplog.set_level(logging.WARNING)
    async with discord_procbot(make_app, programs=[prog()]) as h:
        pid = h.app.supervisor.state("web").pid
        rec = await h.fake.command("restart", {"target": "web"}, user=h.operator, send=False)
        h.fake.fail_next(502, 1000, path=f"/webhooks/{h.fake.application_id}/{rec.token}")
        await h.fake.dispatch("INTERACTION_CREATE", rec.payload)
        await wait_for(lambda: unanswered(caplog, rec))

        assert rec.callback_type == DEFERRED_CHANNEL_MESSAGE
        assert h.app.supervisor.state("web").pid != pid
        [line] = unanswered(caplog, rec)
        assert "could not answer Discord interaction" in line and "502" in line
        again = await h.command("status", user=h.viewer)
        assert "Status on testhost" in again.text()
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_signal_offers_the_declared_signals_as_choices_and_reaches_the_program(make_app: Any) -> None:
    counter = {"name": "web", "command": [
        "python3", "-c", "import signal, time\n"
        "signal.signal(signal.SIGUSR1, lambda *_: print('got USR1', flush=True))\nprint('ready', flush=True)\n"
        "while True: time.sleep(3600)"]}
    async with discord_procbot(make_app, programs=[counter]) as h:
        (proc,) = h.fake.synced_commands[h.fake.guild_id]
        sub = next(o for o in proc["options"] if o["name"] == "signal")
        option = next(o for o in sub["options"] if o["name"] == "signal")
        assert [c["value"] for c in option["choices"]] == list(SIGNALS) and option["required"]
        path = log_path(h.app.config.log_dir, "web")
        await wait_for(lambda: path.exists() and "ready" in path.read_text())
        rec = await h.command("signal", {"target": "web", "signal": "USR1"})
        assert "Sent SIGUSR1 to web" in rec.text()
        await wait_for(lambda: "got USR1" in path.read_text())
