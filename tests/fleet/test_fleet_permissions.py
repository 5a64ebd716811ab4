"""Fleet permissions are decided once, at the front: host-scoped grants, refusals before anything is sent,
and the host's audit row naming the real chat user and the host."""

from __future__ import annotations

import os

from core.actor import Actor, CommandContext
from tests.conftest import sleeper
from tests.helpers import wait_for

BOB = CommandContext(Actor("slack", "U2", "bob"), channel="C1")
VIC = CommandContext(Actor("slack", "U3", "vic"), channel="C1")
#: the front's grants: bob operates host-1 only, vic views everywhere, ann administers, sue views host-1 only
FRONT_GRANTS = {"grants": [{"role": "operator", "users": ["U2"], "hosts": ["host-1"]},
                           {"role": "viewer", "users": ["U3"]}, {"role": "admin", "users": ["U1"]},
                           {"role": "viewer", "users": ["U4"], "hosts": ["host-1"]}]}
SUE = CommandContext(Actor("slack", "U4", "sue"), channel="C1")
ANN = CommandContext(Actor("slack", "U1", "ann"), channel="C1")
#: a host's own grants, more restrictive than the front's: they no longer decide forwarded commands
HOST_GRANTS = {"grants": [{"role": "viewer", "users": ["U2"]}]}


def web(tag: str) -> dict:
    return {"name": "web", "command": sleeper(tag)}


async def fleet(make_member):
    front_app, front = await make_member("front-1", role="front", permissions=FRONT_GRANTS)
    h1, h1_node = await make_member("host-1", permissions=HOST_GRANTS, programs=[web("h1-web")])
    h1.node = h1_node  # type: ignore[attr-defined]
    h2, _ = await make_member("host-2", permissions=HOST_GRANTS, programs=[web("h2-web")])
    await wait_for(lambda: {"host-1", "host-2"} <= set(front.liveness.names()))
    return front_app, front, h1, h2


async def test_an_operator_granted_one_host_restarts_there_though_the_hosts_own_grants_say_viewer(make_member):
    _, front, h1, _ = await fleet(make_member)
    before = h1.supervisor.state("web").pid

    reply = await front.commands.handle("restart web@host-1", BOB)

    assert reply.ok, reply.text
    assert h1.supervisor.state("web").pid != before


async def test_an_operator_granted_one_host_is_refused_on_another_and_its_program_keeps_running(make_member):
    front_app, front, _, h2 = await fleet(make_member)
    before = h2.supervisor.state("web").pid

    reply = await front.commands.handle("restart web@host-2", BOB)

    assert reply.error_code == "unauthorized"
    assert "`host-2`" in reply.text
    assert h2.supervisor.state("web").pid == before
    os.kill(before, 0)  # still there
    row = (await front_app.registry.audit_rows(1))[0]
    assert (row.user_id, row.command, row.outcome, row.host) == ("U2", "restart web", "refused", "host-2")
    assert not [r for r in await h2.registry.audit_rows(50) if r.user_id == "U2"]


async def test_a_command_over_several_hosts_is_refused_whole_naming_the_hosts_not_allowed(make_member):
    front_app, front, h1, h2 = await fleet(make_member)
    before = (h1.supervisor.state("web").pid, h2.supervisor.state("web").pid)

    reply = await front.commands.handle("restart web@host-*", BOB)

    assert reply.error_code == "unauthorized"
    assert "`host-2`" in reply.text and "`host-1`" not in reply.text
    assert (h1.supervisor.state("web").pid, h2.supervisor.state("web").pid) == before
    assert (await front_app.registry.audit_rows(1))[0].host == "host-2"


async def test_a_viewer_refused_a_restart_at_the_front_never_reaches_the_host(make_member):
    front_app, front, h1, _ = await fleet(make_member)
    before = h1.supervisor.state("web").pid
    answered = h1.node.service.answered

    reply = await front.commands.handle("restart web@host-1", VIC)

    assert reply.error_code == "unauthorized"
    assert h1.supervisor.state("web").pid == before
    assert not [r for r in await h1.registry.audit_rows(50) if r.user_id == "U3"]
    assert (await front_app.registry.audit_rows(1))[0].outcome == "refused"
    assert h1.node.service.answered == answered  # no request was sent to host-1


async def test_the_hosts_audit_row_names_the_real_chat_user_and_the_host(make_member):
    _, front, h1, _ = await fleet(make_member)

    reply = await front.commands.handle("restart web@host-1", BOB)

    assert reply.ok, reply.text
    row = (await h1.registry.audit_rows(1))[0]
    assert (row.platform, row.user_id, row.user_name, row.channel) == ("slack", "U2", "bob", "C1")
    assert (row.command, row.outcome, row.host) == ("restart web", "ok", "host-1")


async def test_a_viewer_may_read_a_host_whose_own_grants_give_them_nothing(make_member):
    _, front, _, _ = await fleet(make_member)

    reply = await front.commands.handle("status @host-2", VIC)

    assert reply.ok, reply.text
    assert reply.table is not None and [row[0] for row in reply.table.rows] == ["web"]


async def test_a_local_command_on_the_front_records_the_fronts_host_name(make_member):
    front_app, front = await make_member("front-1", role="front", permissions=FRONT_GRANTS,
                                         programs=[web("f-web")])

    await front.commands.handle("info web", VIC)

    row = (await front_app.registry.audit_rows(1))[0]
    assert (row.command, row.host) == ("info web", "front-1")


async def test_a_bare_status_over_hosts_not_all_allowed_is_refused_naming_the_others(make_member):
    front_app, front, _, _ = await fleet(make_member)

    reply = await front.commands.handle("status", SUE)

    assert reply.error_code == "unauthorized"
    assert "`front-1`, `host-2`" in reply.text
    assert (await front_app.registry.audit_rows(1))[0].host == "front-1,host-2"


async def test_audit_on_the_front_filters_by_host_and_shows_it(make_member):
    _, front, _, _ = await fleet(make_member)
    await front.commands.handle("restart web@host-2", BOB)
    await front.commands.handle("restart web@host-1", VIC)

    reply = await front.commands.handle("audit host=host-2", ANN)

    assert reply.ok, reply.text
    assert reply.table is not None and reply.table.columns[-1] == "HOST"
    assert [(row[3], row[-1]) for row in reply.table.rows] == [("restart web", "host-2")]
