"""Per-program locking and what a child inherits."""

from __future__ import annotations

import asyncio
import json
import sys

from core.actor import Actor, CommandContext
from core.process.logs import log_path
from tests.conftest import sleeper
from tests.helpers import alive, count_tagged, tagged_pids, unique_tag, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable


async def test_concurrent_restarts_of_one_program_spawn_exactly_one_process(make_app):
    tag = unique_tag("concurrent-web")
    app = await make_app([{"name": "web", "command": sleeper(tag)}])
    replies = await asyncio.gather(*(app.dispatcher.handle("restart web", CLI) for _ in range(10)))
    assert all(r.ok for r in replies)
    assert count_tagged(tag) == 1
    assert tagged_pids(tag) == [app.supervisor.state("web").pid]
    assert alive(app.supervisor.state("web").pid)


async def test_concurrent_starts_spawn_one_and_report_already_running(make_app):
    tag = unique_tag("concurrent-start")
    app = await make_app([{"name": "web", "command": sleeper(tag), "autostart": False}])
    replies = await asyncio.gather(*(app.dispatcher.handle("start web", CLI) for _ in range(5)))
    assert sum(r.ok for r in replies) == 1
    assert all("already running" in r.text for r in replies if not r.ok)
    assert count_tagged(tag) == 1
    assert tagged_pids(tag) == [app.supervisor.state("web").pid]


async def test_a_childs_environment_lacks_procbots_token_variables(make_app):
    dump = [PY, "-c", "import json, os; print(json.dumps(dict(os.environ)), flush=True)"]
    environ = {
        "PATH": "/usr/bin:/bin",
        "SLACK_BOT_TOKEN": "xoxb-secret-1",
        "SLACK_APP_TOKEN": "xapp-secret-2",
        "DISCORD_TOKEN": "discord-secret-3",
        "MY_CUSTOM_TOKEN": "custom-secret-4",
        "HARMLESS": "yes",
    }
    app = await make_app(
        [{"name": "envdump", "command": dump, "restart": "never", "env": {"APP_MODE": "demo"}}],
        environ=environ,
        slack={"bot_token_env": "MY_CUSTOM_TOKEN"},
    )
    path = log_path(app.config.log_dir, "envdump")
    await wait_for(lambda: path.exists() and path.read_text().strip() != "")
    env = json.loads(path.read_text().splitlines()[0])
    assert env["HARMLESS"] == "yes"
    assert env["APP_MODE"] == "demo"
    for var in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_TOKEN", "MY_CUSTOM_TOKEN"):
        assert var not in env
    assert "secret" not in path.read_text()
