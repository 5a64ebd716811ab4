"""Host-scoped grants and the front's decision, as the one permission check reads them (no server needed)."""

from __future__ import annotations

import json

import pytest

from core.actor import Actor, CommandContext, Decision
from core.commands.permissions import Permissions
from core.errors import HostsRefused, Unauthorized
from core.fleet.codec import CommandRequest, decode_request, encode_request
from core.spec import Grant
from core.spec import Permissions as PermissionSettings

BOB = Actor("slack", "U2", "bob")


def perms(*grants: dict, host: str = "front-1") -> Permissions:
    return Permissions(PermissionSettings(grants=[Grant(**g) for g in grants]), host=host)


def test_a_grant_scoped_to_hosts_holds_only_on_the_hosts_it_names():
    p = perms({"role": "operator", "users": ["U2"], "hosts": ["db-*"]})

    assert p.role(BOB, "C1", host="db-1") == "operator"
    assert p.role(BOB, "C1", host="web-1") == "none"


def test_a_grant_scoped_to_other_hosts_does_not_hold_for_this_hosts_own_programs():
    p = perms({"role": "operator", "users": ["U2"], "hosts": ["db-*"]}, host="web-1")

    with pytest.raises(Unauthorized):
        p.check(BOB, "C1", "restart", {"web": None})


def test_a_grant_without_hosts_holds_on_every_host():
    p = perms({"role": "viewer", "users": ["U2"]})

    assert [p.role(BOB, None, host=h) for h in ("a", "b")] == ["viewer", "viewer"]


def test_the_front_refuses_a_command_over_hosts_naming_only_those_not_allowed():
    p = perms({"role": "operator", "users": ["U2"], "hosts": ["host-1"]})

    with pytest.raises(HostsRefused) as e:
        p.decide_hosts(BOB, "C1", "restart", ["host-1", "host-2", "host-3"])

    assert e.value.hosts == ["host-2", "host-3"]
    assert "`host-2`, `host-3`" in str(e.value)


def test_a_program_scoped_grant_on_a_host_is_carried_in_the_decision_for_that_host():
    p = perms({"role": "viewer", "users": ["U2"]},
              {"role": "operator", "users": ["U2"], "hosts": ["host-1"], "programs": ["web*"]})

    decisions = p.decide_hosts(BOB, "C1", "restart", ["host-1"])

    assert decisions == {"host-1": Decision("viewer", (("operator", ("web*",)),))}


def test_a_host_applies_the_fronts_decision_and_never_its_own_higher_grants():
    host = perms({"role": "admin", "users": ["U2"]}, host="host-1")
    forwarded = Actor("slack", "U2", "bob", decided=Decision("viewer", (("operator", ("web",)),)))

    host.check(forwarded, "C1", "restart", {"web": None})
    with pytest.raises(Unauthorized):
        host.check(forwarded, "C1", "restart", {"api": None})
    with pytest.raises(Unauthorized):
        host.check(forwarded, "C1", "reload", {})


def test_a_host_applies_the_fronts_decision_over_its_own_narrower_grants():
    host = perms(host="host-1")  # no grants at all here
    forwarded = Actor("slack", "U2", "bob", decided=Decision("operator"))

    host.check(forwarded, "C1", "restart", {"web": None})


def test_a_forwarded_request_carries_the_actor_the_channel_and_the_decision():
    actor = Actor("slack", "U2", "bob", decided=Decision("viewer", (("operator", ("group:workers",)),)))

    req = decode_request(encode_request(CommandRequest("restart web", CommandContext(actor, "C1"))))

    assert req.ctx.actor == actor and req.ctx.channel == "C1"


def test_a_request_without_a_decision_never_makes_its_actor_local():
    raw = {"v": 1, "kind": "handle", "text": "reload", "channel": None,
           "actor": {"platform": "cli", "user_id": "root", "local": True}}

    req = decode_request(json.dumps(raw).encode())

    assert not req.ctx.actor.local and req.ctx.actor.decided is None
    assert perms(host="host-1").role(req.ctx.actor, None) == "none"
