"""/proc over Socket Mode: real slack-bolt, real dispatcher, real processes, fake Slack."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from core.process.logs import log_path
from tests.conftest import sleeper
from tests.fakes.slack_harness import slack_procbot
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.helpers import alive, wait_for

OPERATOR = "U0OP"
VIEWER = "U0VIEW"
PERMS = {"default_role": "viewer", "grants": [{"role": "operator", "platform": "slack", "users": [OPERATOR]}]}


def web(tag: str = "web", group: str | None = "workers") -> dict[str, Any]:
    return {"name": tag, "command": sleeper(tag), "group": group}


def all_text(body: dict[str, Any]) -> str:
    out = [body.get("text", "")]
    for b in body["blocks"]:
        if "text" in b:
            out.append(b["text"]["text"])
        out += [f["text"] for f in b.get("fields", [])]
        out += [e.get("text", "") for e in b.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(out)


async def test_every_command_is_acked_with_an_empty_ack(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        env = await h.fake.slash_command("status")
        await h.fake.wait_ack(env)
        assert env.ack_payload is None


async def test_status_shows_a_table_with_the_real_pid(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        pid = h.app.supervisor.state("web").pid
        body = await h.command("status", user=VIEWER)
        table = next(b["text"]["text"] for b in body["blocks"] if b["text"]["text"].startswith("```"))
        assert "PROGRAM" in table and "STATE" in table
        row = next(line for line in table.split("\n") if " web " in line)
        assert str(pid) in row
        assert body["response_type"] == "ephemeral"


async def test_stop_then_start_act_on_the_real_process(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        pid = h.app.supervisor.state("web").pid
        body = await h.command("stop web")
        assert "Stopped web" in all_text(body)
        assert not alive(pid)
        assert h.app.supervisor.state("web").state == "stopped"

        body = await h.command("start web")
        new_pid = h.app.supervisor.state("web").pid
        assert "Started web" in all_text(body)
        assert new_pid != pid and alive(new_pid)


async def test_restart_replaces_the_process(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        pid = h.app.supervisor.state("web").pid
        body = await h.command("restart web")
        new_pid = h.app.supervisor.state("web").pid
        assert f"pid {new_pid}" in all_text(body)
        assert not alive(pid) and alive(new_pid)


async def test_an_ungranted_user_is_refused_ephemerally_and_audited(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        pid = h.app.supervisor.state("web").pid
        body = await h.command("stop web --public", user=VIEWER)
        assert body["response_type"] == "ephemeral"
        assert "operator role" in all_text(body)
        assert alive(pid) and h.app.supervisor.state("web").pid == pid
        rows = await h.app.registry.audit_rows(5)
        refused = [r for r in rows if r.user_id == VIEWER and r.outcome == "refused"]
        assert refused and refused[0].platform == "slack" and refused[0].channel == "C0OPS"
        assert "stop web" in refused[0].command


async def test_a_user_group_grant_is_honoured_by_group_id(make_app: Any) -> None:
    perms = {"default_role": "none", "grants": [{"role": "operator", "platform": "slack", "groups": ["S0OPS"]}]}
    async with slack_procbot(make_app, programs=[web()], permissions=perms) as h:
        h.fake.usergroups["S0OPS"] = ["U0MEMBER"]
        pid = h.app.supervisor.state("web").pid

        refused = await h.command("restart web", user="U0OUTSIDER")
        assert "operator role" in all_text(refused) and h.app.supervisor.state("web").pid == pid

        await h.command("restart web", user="U0MEMBER")
        assert h.app.supervisor.state("web").pid != pid
        assert [c.args["usergroup"] for c in h.fake.calls_to("usergroups.users.list")] == ["S0OPS"]


async def test_a_display_name_never_grants_anything(make_app: Any) -> None:
    perms = {"default_role": "none", "grants": [{"role": "operator", "platform": "slack", "users": [OPERATOR]}]}
    async with slack_procbot(make_app, programs=[web()], permissions=perms) as h:
        pid = h.app.supervisor.state("web").pid
        env = await h.fake.slash_command("stop web", user_id="U0IMPOSTOR", user_name=OPERATOR)
        body = await h.fake.wait_response(env.response_url)
        assert "operator role" in all_text(body)
        assert h.app.supervisor.state("web").pid == pid


async def test_user_told_when_slack_will_not_list_group_members(make_app: Any) -> None:
    perms = {"default_role": "none", "grants": [{"role": "operator", "platform": "slack", "groups": ["S0OPS"]}]}
    async with slack_procbot(make_app, programs=[web()], permissions=perms) as h:
        h.fake.usergroups["S0OPS"] = ["U0MEMBER"]
        h.fake.fail("usergroups.users.list", status=200, error="service_unavailable", times=5)
        pid = h.app.supervisor.state("web").pid
        body = await h.command("restart web", user="U0MEMBER")
        assert body["response_type"] == "ephemeral"
        assert "service_unavailable" in all_text(body) and "nothing was done" in all_text(body)
        assert h.app.supervisor.state("web").pid == pid


async def test_an_unreadable_group_does_not_block_grants_by_user_id(make_app: Any) -> None:
    perms = {"default_role": "none", "grants": [
        {"role": "operator", "platform": "any", "groups": ["998877665544"]},  # a Discord role ID
        {"role": "operator", "platform": "slack", "users": [OPERATOR]},
    ]}
    async with slack_procbot(make_app, programs=[web()], permissions=perms) as h:
        pid = h.app.supervisor.state("web").pid
        body = await h.command("restart web", user=OPERATOR)
        assert "Restarted web" in all_text(body)
        assert h.app.supervisor.state("web").pid != pid


async def test_public_flag_posts_the_result_in_channel(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        assert (await h.command("status --public"))["response_type"] == "in_channel"
        assert (await h.command("status"))["response_type"] == "ephemeral"


async def test_public_replies_setting_makes_results_public_but_not_errors(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS, slack={"public_replies": True}) as h:
        assert (await h.command("status"))["response_type"] == "in_channel"
        assert (await h.command("stop web", user=VIEWER))["response_type"] == "ephemeral"
        assert (await h.command("frobnicate"))["response_type"] == "ephemeral"


async def test_a_configured_command_name_is_the_one_answered(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS, slack={"command": "/ops"}) as h:
        body = await h.command("status")
        assert "Status on" in all_text(body)


async def test_unknown_commands_get_an_ephemeral_hint(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        body = await h.command("sttaus")
        assert body["response_type"] == "ephemeral"
        assert "`status`" in all_text(body)


async def test_text_over_4000_characters_is_refused(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        body = await h.command("status " + "x" * 4100)
        assert body["response_type"] == "ephemeral"
        assert "too long" in all_text(body)


async def test_mentions_and_markdown_in_arguments_are_inert(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        await h.command("silence web 1h <!channel> *boom* <@U999> <https://evil.test|click>")
        text = all_text(await h.command("silences"))
        assert "&lt;!channel&gt;" in text
        assert "<!channel>" not in text and "<@U999>" not in text and "<https:" not in text


async def test_a_program_command_line_shown_by_info_is_inert(make_app: Any) -> None:
    evil = {"name": "evil", "command": sleeper("<!here> *bold* ~gone~ ```")}
    async with slack_procbot(make_app, programs=[evil], permissions=PERMS) as h:
        text = all_text(await h.command("info evil"))
        command = text[text.index("*Command*"):]
        assert "&lt;!here&gt;" in command
        assert "*bold*" not in command and "~gone~" not in command and "```" not in command


async def test_output_over_slack_limits_is_split(make_app: Any) -> None:
    chatty = {"name": "chatty", "command": ["sh", "-c", "yes 'lorem ipsum dolor sit amet <!here>' | head -c 400000; "
                                                       "sleep 3600"]}
    async with slack_procbot(make_app, programs=[chatty], permissions=PERMS) as h:
        path = log_path(h.app.config.log_dir, "chatty")
        await wait_for(lambda: path.exists() and path.stat().st_size >= 400000)
        body = await h.command("logs chatty 1000")
        assert len(body["blocks"]) <= 50
        texts = [b["text"]["text"] for b in body["blocks"] if "text" in b]
        assert max(len(t) for t in texts) <= 3000
        assert sum(t.count("lorem ipsum") for t in texts) > 100
        assert "<!here>" not in all_text(body)


async def test_a_command_sent_while_the_socket_reconnects_is_answered(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        h.fake.hold_connections()
        await h.fake.drop_sockets()
        await h.fake.wait_for(lambda: h.fake.open_sockets == 0 and h.fake.calls_to("apps.connections.open")[1:])
        env = await h.fake.slash_command("status")
        assert env.deliveries == 0 and env.acked_at is None  # nowhere to deliver it yet: it waits at Slack
        h.fake.release_connections()
        body = await h.fake.wait_response(env.response_url, timeout=10)
        assert "Status on" in all_text(body)
        assert h.fake.socket_connections == 2


async def test_start_returns_at_once_and_connects_after_slack_recovers(make_app: Any) -> None:
    async with FakeSlack() as fake:
        fake.fail("apps.connections.open", status=200, error="internal_error", times=10**6)  # Slack is down
        environ = dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN)
        # if start waited for Slack it would never return while Slack is down: the guard turns that into a failure
        app = await asyncio.wait_for(make_app([web()], permissions=PERMS, slack={"api_url": fake.api_url},
                                              with_adapters=True, environ=environ), 30)
        adapter = app.messengers["slack"]
        await fake.wait_for(lambda: fake.calls_to("apps.connections.open"), timeout=10)
        assert not adapter.connected
        assert alive(app.supervisor.state("web").pid)  # procbot is up and supervising meanwhile

        fake.fail("apps.connections.open", times=0)  # Slack is back
        await adapter.wait_connected(15)
        assert len(fake.calls_to("apps.connections.open")) >= 2  # it retried on its own
        env = await fake.slash_command("status")
        assert "Status on" in all_text(await fake.wait_response(env.response_url, timeout=10))
        await app.stop(stop_programs=True)


async def test_an_unreachable_slack_does_not_stop_the_supervisor(make_app: Any) -> None:
    fake = await FakeSlack().start()
    fake.fail("auth.test", status=200, error="invalid_auth", times=1000)
    settings = {"api_url": fake.api_url}
    app = await make_app([web()], permissions=PERMS, slack=settings, with_adapters=True,
                         environ=dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN))
    try:
        adapter = app.messengers["slack"]
        await fake.wait_for(lambda: fake.calls_to("auth.test"))
        assert not adapter.connected
        assert alive(app.supervisor.state("web").pid)
    finally:
        await app.stop(stop_programs=True)
        await fake.stop()


async def test_stopping_the_adapter_closes_the_socket_and_leaves_no_tasks(make_app: Any) -> None:
    async with slack_procbot(make_app, programs=[web()], permissions=PERMS) as h:
        await h.command("status")
        await h.adapter.stop()
        assert h.fake.open_sockets == 0 and not h.adapter.connected
        leftovers = [t for t in asyncio.all_tasks() if "SocketMode" in repr(t.get_coro()) or
                     t.get_name().startswith("slack-")]
        assert leftovers == []


async def test_signal_from_slack_reaches_the_program_and_a_viewer_is_refused(make_app: Any) -> None:
    counter = {"name": "web", "command": [
        "python3", "-c", "import signal, time\nsignal.signal(signal.SIGHUP, lambda *_: print('got HUP', flush=True))\n"
        "print('ready', flush=True)\nwhile True: time.sleep(3600)"]}
    async with slack_procbot(make_app, programs=[counter], permissions=PERMS) as h:
        path = log_path(h.app.config.log_dir, "web")
        await wait_for(lambda: path.exists() and "ready" in path.read_text())
        refused = await h.command("signal web HUP", user=VIEWER)
        assert "operator role" in all_text(refused)
        body = await h.command("signal web hup")
        assert "Sent SIGHUP to web" in all_text(body)
        await wait_for(lambda: "got HUP" in path.read_text())
        assert path.read_text().count("got HUP") == 1
