"""Commands across the fleet: `@host` goes to that host's dispatcher by request/reply, and never hangs."""

from __future__ import annotations

import time

from core.actor import Actor, CommandContext
from tests.conftest import sleeper
from tests.helpers import wait_for

OPERATOR = CommandContext(Actor("slack", "U1", "ann"), channel="C1")
ADMIN_GRANTS = {"grants": [{"role": "admin", "users": ["U1"]}]}


async def test_restart_at_a_host_restarts_the_program_there_and_nowhere_else(make_member):
    front_app, front = await make_member("front-1", role="front", permissions=ADMIN_GRANTS,
                                         programs=[{"name": "web", "command": sleeper("front-web")}])
    host_app, _ = await make_member("host-2", permissions=ADMIN_GRANTS,
                                    programs=[{"name": "web", "command": sleeper("host2-web")}])
    await wait_for(lambda: "host-2" in front.liveness.names())
    before_front = front_app.supervisor.state("web").pid
    before_host = host_app.supervisor.state("web").pid

    reply = await front.commands.handle("restart web@host-2", OPERATOR)

    assert reply.ok, reply.text
    assert host_app.supervisor.state("web").pid != before_host
    assert front_app.supervisor.state("web").pid == before_front


async def test_status_at_a_host_answers_with_that_hosts_programs(make_member):
    _, front = await make_member("front-1", role="front", permissions=ADMIN_GRANTS)
    await make_member("host-2", permissions=ADMIN_GRANTS, programs=[{"name": "api", "command": sleeper("api")}])

    reply = await front.commands.handle("status @host-2", OPERATOR)

    assert reply.ok, reply.text
    assert reply.table is not None and [row[0] for row in reply.table.rows] == ["api"]
    assert reply.data["host"] == "host-2"


async def test_bare_status_on_a_front_lists_every_hosts_programs_under_a_host_column(make_member):
    _, front = await make_member("front-1", role="front", permissions=ADMIN_GRANTS,
                                 programs=[{"name": "web", "command": sleeper("f-web")}])
    await make_member("host-2", permissions=ADMIN_GRANTS, programs=[{"name": "api", "command": sleeper("h2-api")}])
    await make_member("host-3", permissions=ADMIN_GRANTS, programs=[{"name": "db", "command": sleeper("h3-db")}])
    await wait_for(lambda: {"host-2", "host-3"} <= set(front.liveness.names()))

    reply = await front.commands.handle("status", OPERATOR)

    assert reply.table is not None and reply.table.columns[0] == "host"
    assert sorted((row[0], row[1]) for row in reply.table.rows) == [
        ("front-1", "web"), ("host-2", "api"), ("host-3", "db")]


async def test_a_command_to_a_stopped_host_answers_offline_at_once(make_member):
    _, front = await make_member("front-1", role="front", permissions=ADMIN_GRANTS)
    host_app, _ = await make_member("host-2", permissions=ADMIN_GRANTS)
    await wait_for(lambda: "host-2" in front.liveness.names())
    await host_app.stop()

    started = time.monotonic()
    reply = await front.commands.handle("status @host-2", OPERATOR)
    took = time.monotonic() - started

    assert not reply.ok
    assert reply.error_code == "host_offline"
    assert "host-2 is offline (last seen" in reply.text
    assert took < front.settings.request_timeout  # "no responders", not a wait for the timeout


async def test_a_command_for_a_host_never_seen_is_a_clear_error(make_member):
    _, front = await make_member("front-1", role="front", permissions=ADMIN_GRANTS)

    reply = await front.commands.handle("status @web-99", OPERATOR)

    assert reply.error_code == "host_offline"
    assert "web-99 is offline or unknown" in reply.text


async def test_a_confirmation_from_a_host_is_pressed_back_at_that_host(make_member):
    _, front = await make_member("front-1", role="front", permissions=ADMIN_GRANTS)
    host_app, _ = await make_member("host-2", permissions=ADMIN_GRANTS, programs=[
        {"name": "a", "command": sleeper("h2-a")}, {"name": "b", "command": sleeper("h2-b")}])
    before = {p: host_app.supervisor.state(p).pid for p in ("a", "b")}

    ask = await front.commands.handle("restart all@host-2", OPERATOR)
    confirm = next(b for b in ask.buttons if b.value.startswith("fleet:host-2:confirm"))
    done = await front.commands.press(confirm.value, OPERATOR)

    assert done.ok, done.text
    assert all(host_app.supervisor.state(p).pid != before[p] for p in ("a", "b"))


async def test_two_host_parts_are_refused(make_member):
    _, front = await make_member("front-1", role="front", permissions=ADMIN_GRANTS)

    reply = await front.commands.handle("restart web@host-2 @host-3", OPERATOR)

    assert reply.error_code == "invalid_input"
