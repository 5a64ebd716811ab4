"""A bare program name on a front means every host that has that program (issue 10).

`restart web` goes where `web` is, by the program names in the hosts' heartbeats: one host, as if
`web@thathost` were written; several, replies merged for a verb that only reads, a Confirm/Cancel
prompt first for one that changes something; none, the local not-found answer.
"""

from __future__ import annotations

import json

from core.actor import Actor, CommandContext
from core.fleet.codec import Heartbeat, decode_heartbeat, encode_heartbeat
from tests.conftest import sleeper
from tests.helpers import wait_for

OPERATOR = CommandContext(Actor("slack", "U1", "ann"), channel="C1")
SOMEONE_ELSE = CommandContext(Actor("slack", "U2", "bob"), channel="C1")
GRANTS = {"grants": [{"role": "admin", "users": ["U1", "U2"]}]}


def has(front, host: str, program: str):
    """The front's liveness view lists ``program`` on ``host`` (its heartbeat arrived)."""
    def check() -> bool:
        view = front.liveness.get(host)
        return view is not None and program in view.heartbeat.program_names
    return check


async def test_a_heartbeat_names_the_hosts_programs_and_groups(make_member):
    _, front = await make_member("front-1", role="front", permissions=GRANTS)
    await make_member("host-2", permissions=GRANTS, programs=[
        {"name": "web", "command": sleeper("h2-web"), "group": "edge"},
        {"name": "api", "command": sleeper("h2-api")}])

    await wait_for(has(front, "host-2", "web"))

    hb = front.liveness.get("host-2").heartbeat
    assert hb.program_names == ["api", "web"]
    assert hb.group_names == ["edge"]


def test_a_heartbeat_from_a_newer_host_with_fields_this_front_does_not_know_is_still_read():
    raw = json.loads(encode_heartbeat(Heartbeat("host-2", 1.0, 0.0, programs=1, failing=0, program_names=["web"])))
    raw["something_later"] = {"x": 1}

    hb = decode_heartbeat(json.dumps(raw).encode())

    assert (hb.host, hb.program_names) == ("host-2", ["web"])


def test_a_heartbeat_from_an_older_host_names_no_programs():
    raw = json.loads(encode_heartbeat(Heartbeat("host-2", 1.0, 0.0, programs=1, failing=0)))
    del raw["program_names"], raw["group_names"]

    assert decode_heartbeat(json.dumps(raw).encode()).program_names == []


async def test_restart_of_a_program_only_one_host_has_restarts_it_there_only(make_member):
    front_app, front = await make_member("front-1", role="front", permissions=GRANTS,
                                         programs=[{"name": "api", "command": sleeper("f-api")}])
    host2_app, _ = await make_member("host-2", permissions=GRANTS,
                                     programs=[{"name": "web", "command": sleeper("h2-web")}])
    host3_app, _ = await make_member("host-3", permissions=GRANTS,
                                     programs=[{"name": "api", "command": sleeper("h3-api")}])
    await wait_for(has(front, "host-2", "web"))
    await wait_for(has(front, "host-3", "api"))
    before = (front_app.supervisor.state("api").pid, host2_app.supervisor.state("web").pid,
              host3_app.supervisor.state("api").pid)

    reply = await front.commands.handle("restart web", OPERATOR)

    assert reply.ok, reply.text
    assert reply.data["host"] == "host-2"
    assert host2_app.supervisor.state("web").pid != before[1]
    assert front_app.supervisor.state("api").pid == before[0]
    assert host3_app.supervisor.state("api").pid == before[2]


async def test_info_of_a_program_on_two_hosts_shows_both(make_member):
    _, front = await make_member("front-1", role="front", permissions=GRANTS,
                                 programs=[{"name": "web", "command": sleeper("f-web")}])
    await make_member("host-2", permissions=GRANTS, programs=[{"name": "web", "command": sleeper("h2-web")}])
    await make_member("host-3", permissions=GRANTS, programs=[{"name": "db", "command": sleeper("h3-db")}])
    await wait_for(has(front, "host-2", "web"))
    await wait_for(has(front, "host-3", "db"))

    reply = await front.commands.handle("info web", OPERATOR)

    assert reply.ok, reply.text
    assert sorted(reply.data["hosts"]) == ["front-1", "host-2"]
    assert all(r["ok"] for r in reply.data["hosts"].values())
    assert reply.title == "2 hosts"


async def test_restart_of_a_program_on_two_hosts_asks_first_and_restarts_both_once_confirmed(make_member):
    _, front = await make_member("front-1", role="front", permissions=GRANTS)
    host2_app, _ = await make_member("host-2", permissions=GRANTS,
                                     programs=[{"name": "web", "command": sleeper("h2-web")}])
    host3_app, _ = await make_member("host-3", permissions=GRANTS,
                                     programs=[{"name": "web", "command": sleeper("h3-web")}])
    await wait_for(has(front, "host-2", "web"))
    await wait_for(has(front, "host-3", "web"))
    apps = {"host-2": host2_app, "host-3": host3_app}
    before = {h: a.supervisor.state("web").pid for h, a in apps.items()}

    ask = await front.commands.handle("restart web", OPERATOR)

    assert "confirm" in ask.data and ask.data["hosts"] == ["host-2", "host-3"]
    assert "web@host-2" in ask.text and "web@host-3" in ask.text
    assert {h: a.supervisor.state("web").pid for h, a in apps.items()} == before

    confirm = next(b for b in ask.buttons if b.label == "Confirm")
    done = await front.commands.press(confirm.value, OPERATOR)

    assert done.ok, done.text
    assert sorted(done.data["hosts"]) == ["host-2", "host-3"]
    assert all(a.supervisor.state("web").pid != before[h] for h, a in apps.items())


async def mass_restart_asked(make_member):
    """web on the front and on host-2; an operator's bare `restart web` has been asked for confirmation."""
    _, front = await make_member("front-1", role="front", permissions=GRANTS,
                                 programs=[{"name": "web", "command": sleeper("f-web")}])
    host2_app, _ = await make_member("host-2", permissions=GRANTS,
                                     programs=[{"name": "web", "command": sleeper("h2-web")}])
    await wait_for(has(front, "host-2", "web"))
    before = host2_app.supervisor.state("web").pid

    ask = await front.commands.handle("restart web", OPERATOR)
    return front, host2_app, before, ask


async def test_a_cancelled_mass_restart_restarts_nothing(make_member):
    front, host2_app, before, ask = await mass_restart_asked(make_member)
    cancel = next(b for b in ask.buttons if b.label == "Cancel")
    done = await front.commands.press(cancel.value, OPERATOR)

    assert done.title == "Cancelled"
    assert host2_app.supervisor.state("web").pid == before


async def test_only_the_asker_may_confirm_a_mass_restart(make_member):
    front, host2_app, before, ask = await mass_restart_asked(make_member)
    confirm = next(b for b in ask.buttons if b.label == "Confirm")
    done = await front.commands.press(confirm.value, SOMEONE_ELSE)

    assert done.error_code == "unauthorized"
    assert host2_app.supervisor.state("web").pid == before


async def test_a_bare_name_no_host_has_gets_the_not_found_answer(make_member):
    _, front = await make_member("front-1", role="front", permissions=GRANTS,
                                 programs=[{"name": "web", "command": sleeper("f-web")}])
    await make_member("host-2", permissions=GRANTS, programs=[{"name": "api", "command": sleeper("h2-api")}])
    await wait_for(has(front, "host-2", "api"))

    reply = await front.commands.handle("restart wev", OPERATOR)

    assert reply.error_code == "not_found"
    assert "No program named `wev`" in reply.text


async def test_a_mass_restart_over_a_host_the_caller_may_not_operate_is_refused_before_any_prompt(make_member):
    grants = {"grants": [{"role": "operator", "users": ["U2"], "hosts": ["host-2"]}]}
    front_app, front = await make_member("front-1", role="front", permissions=grants)
    host2_app, _ = await make_member("host-2", programs=[{"name": "web", "command": sleeper("h2-web")}])
    await make_member("host-3", programs=[{"name": "web", "command": sleeper("h3-web")}])
    await wait_for(has(front, "host-2", "web"))
    await wait_for(has(front, "host-3", "web"))
    before = host2_app.supervisor.state("web").pid

    reply = await front.commands.handle("restart web", SOMEONE_ELSE)

    assert reply.error_code == "unauthorized"
    assert "confirm" not in reply.data and not reply.buttons
    assert host2_app.supervisor.state("web").pid == before
    row = (await front_app.registry.audit_rows(1))[0]
    assert (row.command, row.outcome, row.host) == ("restart web", "refused", "host-3")


async def test_asking_to_confirm_a_mass_restart_is_audited_on_the_front_naming_the_hosts(make_member):
    front_app, front = await make_member("front-1", role="front", permissions=GRANTS,
                                         programs=[{"name": "web", "command": sleeper("f-web")}])
    await make_member("host-2", permissions=GRANTS, programs=[{"name": "web", "command": sleeper("h2-web")}])
    await wait_for(has(front, "host-2", "web"))

    await front.commands.handle("restart web", OPERATOR)

    row = (await front_app.registry.audit_rows(1))[0]
    assert (row.command, row.outcome, row.host) == ("restart web", "confirm", "front-1,host-2")


async def test_a_bare_group_only_one_host_has_goes_to_that_host(make_member):
    _, front = await make_member("front-1", role="front", permissions=GRANTS)
    await make_member("host-2", permissions=GRANTS, programs=[
        {"name": "web", "command": sleeper("h2-web"), "group": "edge"}])
    await wait_for(has(front, "host-2", "web"))

    reply = await front.commands.handle("status group:edge", OPERATOR)

    assert reply.ok, reply.text
    assert reply.data["host"] == "host-2"
    assert reply.table is not None and [row[0] for row in reply.table.rows] == ["web"]
