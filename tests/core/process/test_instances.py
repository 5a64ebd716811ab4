"""Programs with ``instances = N``: N real processes, each its own argv, log, state and target."""

from __future__ import annotations

import sys

from core.actor import Actor, CommandContext
from core.process.logs import log_path
from core.process.states import State
from core.process.tags import Tag, parse
from core.spec.instances import PLACEHOLDER, instance_name
from tests.helpers import alive, unique_tag, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable
WEB = [instance_name("web", i) for i in range(4)]


def _web(tag: str, n: int = 4, **kw) -> dict:
    # prints its own argv, then sleeps: each instance's log shows which instance it is
    code = f"import sys, time  # {tag}\nprint('argv', sys.argv[1:], flush=True)\ntime.sleep(3600)"
    return {"name": "web", "instances": n, "command": [PY, "-c", code, f"--slot={PLACEHOLDER}"], **kw}


def _cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]


async def test_four_instances_run_with_their_own_argv(make_app):
    app = await make_app([_web(unique_tag("inst"))])
    pids = [app.supervisor.state(n).pid for n in WEB]
    assert len(set(pids)) == 4 and all(alive(p) for p in pids)
    assert [_cmdline(p)[-1] for p in pids] == [f"--slot={i}" for i in range(4)]


async def test_each_instance_writes_its_own_log_file(make_app):
    app = await make_app([_web(unique_tag("inst-log"))])
    paths = [log_path(app.config.log_dir, n) for n in WEB]
    assert len(set(paths)) == 4
    for i, path in enumerate(paths):
        await wait_for(lambda path=path: path.exists() and "argv" in path.read_text())
        assert f"--slot={i}" in path.read_text()


async def test_stop_of_the_program_name_stops_every_instance(make_app):
    app = await make_app([_web(unique_tag("inst-stop"))])
    pids = [app.supervisor.state(n).pid for n in WEB]
    reply = await app.dispatcher.handle("stop web", CLI)
    assert reply.ok, reply.text
    assert [app.supervisor.state(n).state for n in WEB] == [State.STOPPED] * 4
    await wait_for(lambda: not any(alive(p) for p in pids))


async def test_stop_of_one_instance_stops_only_it(make_app):
    app = await make_app([_web(unique_tag("inst-one"))])
    pids = {n: app.supervisor.state(n).pid for n in WEB}
    reply = await app.dispatcher.handle(f"stop {WEB[2]}", CLI)
    assert reply.ok, reply.text
    assert not alive(pids[WEB[2]])
    assert app.supervisor.state(WEB[2]).state is State.STOPPED
    assert all(app.supervisor.state(n).state.is_up for n in WEB if n != WEB[2])
    assert all(alive(pids[n]) for n in WEB if n != WEB[2])


async def test_status_of_the_program_name_lists_its_instances(make_app):
    app = await make_app([_web(unique_tag("inst-status"))])
    reply = await app.dispatcher.handle("status web", CLI)
    assert reply.ok, reply.text
    assert [row[0] for row in reply.table.rows] == WEB


async def test_logs_of_one_instance_shows_its_lines(make_app):
    app = await make_app([_web(unique_tag("inst-logs"))])
    path = log_path(app.config.log_dir, WEB[1])
    await wait_for(lambda: path.exists() and "argv" in path.read_text())
    reply = await app.dispatcher.handle(f"logs {WEB[1]}", CLI)
    assert reply.ok, reply.text
    assert "--slot=1" in reply.code


async def test_a_one_program_command_on_the_program_name_asks_for_one_instance(make_app):
    app = await make_app([_web(unique_tag("inst-info"))])
    reply = await app.dispatcher.handle("info web", CLI)
    assert not reply.ok
    assert f"info {WEB[0]}" in reply.text


async def test_a_grant_on_the_program_name_covers_its_instances(make_app):
    perms = {"grants": [{"role": "operator", "platform": "slack", "users": ["U1"], "programs": ["web"]}]}
    app = await make_app([_web(unique_tag("inst-grant"))], permissions=perms)
    ctx = CommandContext(Actor("slack", "U1"), channel="C1")
    reply = await app.dispatcher.handle(f"restart {WEB[3]}", ctx)
    assert reply.ok, reply.text


async def test_an_instance_keeps_its_name_in_the_environment_tag():
    tag = Tag("0123abcd", instance_name("web", 2), "f00d")
    assert parse(tag.value()) == tag


async def test_the_completion_offers_the_program_name_and_each_instance(make_app):
    app = await make_app([_web(unique_tag("inst-complete"))])
    assert await app.dispatcher.complete("we", CLI, "stop") == [*WEB, "web"]
    assert await app.dispatcher.complete("we", CLI, "logs") == WEB


async def test_info_of_an_instance_names_its_number_and_order(make_app):
    app = await make_app([_web(unique_tag("inst-info2"), depends_on=["db"], priority=5),
                          {"name": "db", "command": [PY, "-c", "import time; time.sleep(3600)"], "min_uptime": 0.2}])
    reply = await app.dispatcher.handle(f"info {WEB[1]}", CLI)
    fields = {f.name: f.value for f in reply.fields}
    assert fields["Instance"] == "1 of 4 (web)"
    assert fields["Starts after"] == "db" and fields["Priority"] == "5"
