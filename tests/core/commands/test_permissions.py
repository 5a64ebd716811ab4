"""Roles and grants: default deny for state changes, scoped grants, every command audited."""

from __future__ import annotations

from core.actor import Actor, CommandContext
from core.process.states import State
from tests.conftest import sleeper
from tests.helpers import alive

PERMS = {
    "default_role": "viewer",
    "grants": [
        {"role": "operator", "platform": "slack", "users": ["U_OP"]},
        {"role": "operator", "platform": "discord", "groups": ["R_WORKERS"], "programs": ["group:workers"]},
        {"role": "admin", "platform": "any", "users": ["U_ADMIN"]},
        {"role": "operator", "platform": "slack", "users": ["U_CHAN"], "channels": ["C_OPS"]},
    ],
}


def ctx(platform: str, user: str, groups: frozenset[str] = frozenset(), channel: str = "C_GEN") -> CommandContext:
    return CommandContext(Actor(platform, user, display_name=f"name-{user}", groups=groups), channel)


async def programs(make_app, **kw):
    return await make_app(
        [
            {"name": "web", "command": sleeper("perm-web")},
            {"name": "worker-1", "command": sleeper("perm-w1"), "group": "workers"},
            {"name": "worker-2", "command": sleeper("perm-w2"), "group": "workers"},
        ],
        permissions=PERMS,
        **kw,
    )


async def test_a_user_without_grants_is_refused_and_the_process_is_untouched(make_app):
    app = await programs(make_app)
    pid = app.supervisor.state("web").pid
    reply = await app.dispatcher.handle("stop web", ctx("slack", "U_NOBODY"))
    assert not reply.ok and reply.error_code == "unauthorized"
    assert reply.ephemeral
    assert alive(pid) and app.supervisor.state("web").pid == pid
    row = (await app.registry.audit_rows(1))[0]
    assert (row.platform, row.user_id, row.command, row.outcome) == ("slack", "U_NOBODY", "stop web", "refused")


async def test_default_viewer_role_may_read_status(make_app):
    app = await programs(make_app)
    reply = await app.dispatcher.handle("status", ctx("slack", "U_NOBODY"))
    assert reply.ok and len(reply.table.rows) == 3


async def test_default_role_none_refuses_even_status(make_app):
    app = await make_app([{"name": "web", "command": sleeper("none-web")}], permissions={"default_role": "none"})
    reply = await app.dispatcher.handle("status", ctx("slack", "U_X"))
    assert not reply.ok and reply.error_code == "unauthorized"


async def test_an_operator_may_restart(make_app):
    app = await programs(make_app)
    old = app.supervisor.state("web").pid
    reply = await app.dispatcher.handle("restart web", ctx("slack", "U_OP"))
    assert reply.ok, reply.text
    assert app.supervisor.state("web").pid != old


async def test_a_grant_for_one_platform_does_not_apply_on_another(make_app):
    app = await programs(make_app)
    reply = await app.dispatcher.handle("restart web", ctx("discord", "U_OP"))
    assert not reply.ok and reply.error_code == "unauthorized"


async def test_a_role_grant_scoped_to_a_group_covers_only_that_group(make_app):
    app = await programs(make_app)
    member = ctx("discord", "D1", frozenset({"R_WORKERS"}))
    ok = await app.dispatcher.handle("restart worker-1", member)
    assert ok.ok, ok.text
    refused = await app.dispatcher.handle("restart web", member)
    assert not refused.ok and "`web`" in refused.text


async def test_a_channel_scoped_grant_applies_only_in_that_channel(make_app):
    app = await programs(make_app)
    assert not (await app.dispatcher.handle("stop web", ctx("slack", "U_CHAN", channel="C_GEN"))).ok
    assert (await app.dispatcher.handle("stop web", ctx("slack", "U_CHAN", channel="C_OPS"))).ok


async def test_grants_never_match_display_names(make_app):
    app = await programs(make_app)
    impostor = CommandContext(Actor("slack", "U_EVIL", display_name="U_OP"), "C_GEN")
    assert not (await app.dispatcher.handle("stop web", impostor)).ok


async def test_audit_needs_admin(make_app):
    app = await programs(make_app)
    assert not (await app.dispatcher.handle("audit", ctx("slack", "U_OP"))).ok
    reply = await app.dispatcher.handle("audit 5", ctx("slack", "U_ADMIN"))
    assert reply.ok
    assert reply.table.rows[0][3] == "audit" and reply.table.rows[0][4] == "refused"


async def test_whoami_reports_the_effective_role(make_app):
    app = await programs(make_app)
    reply = await app.dispatcher.handle("whoami", ctx("discord", "D1", frozenset({"R_WORKERS"})))
    role = next(f.value for f in reply.fields if f.name == "Role")
    assert "viewer everywhere" in role and "operator on worker-1, worker-2" in role


async def test_autocomplete_offers_only_what_the_user_may_act_on(make_app):
    app = await programs(make_app)
    member = ctx("discord", "D1", frozenset({"R_WORKERS"}))
    assert await app.dispatcher.complete("", member, "restart") == ["worker-1", "worker-2", "group:workers"]
    assert await app.dispatcher.complete("w", member, "status") == ["web", "worker-1", "worker-2", "group:workers"]


async def test_multi_program_actions_ask_for_confirmation_first(make_app):
    app = await programs(make_app)
    pids = {n: app.supervisor.state(n).pid for n in ("worker-1", "worker-2")}
    reply = await app.dispatcher.handle("stop group:workers", ctx("slack", "U_OP"))
    assert reply.ok and [b.label for b in reply.buttons] == ["Confirm", "Cancel"]
    assert all(app.supervisor.state(n).pid == p and alive(p) for n, p in pids.items())
    done = await app.dispatcher.press(reply.buttons[0].value, ctx("slack", "U_OP"))
    assert done.ok, done.text
    assert all(app.supervisor.state(n).state is State.STOPPED for n in pids)


async def test_only_the_asker_can_confirm(make_app):
    app = await programs(make_app)
    reply = await app.dispatcher.handle("stop group:workers", ctx("slack", "U_OP"))
    other = await app.dispatcher.press(reply.buttons[0].value, ctx("slack", "U_ADMIN"))
    assert not other.ok and "Only the person who asked" in other.text
    assert app.supervisor.state("worker-1").state.is_up


async def test_a_confirmation_expires(make_app):
    class Clock:
        def __init__(self):
            import time

            self.offset = 0.0
            self._time = time

        def time(self):
            return self._time.time() + self.offset

        def monotonic(self):
            return self._time.monotonic() + self.offset

    clock = Clock()
    app = await programs(make_app, clock=clock)
    reply = await app.dispatcher.handle("restart group:workers", ctx("slack", "U_OP"))
    clock.offset += 121
    late = await app.dispatcher.press(reply.buttons[0].value, ctx("slack", "U_OP"))
    assert not late.ok and late.error_code == "confirmation_expired"


async def test_cancel_runs_nothing(make_app):
    app = await programs(make_app)
    reply = await app.dispatcher.handle("stop all", ctx("slack", "U_OP"))
    done = await app.dispatcher.press(reply.buttons[1].value, ctx("slack", "U_OP"))
    assert done.title == "Cancelled"
    assert all(st.state.is_up for st in app.supervisor.states())
    again = await app.dispatcher.press(reply.buttons[0].value, ctx("slack", "U_OP"))
    assert not again.ok


async def test_alert_buttons_run_as_the_presser(make_app):
    app = await programs(make_app)
    refused = await app.dispatcher.press("cmd:restart web", ctx("slack", "U_NOBODY"))
    assert not refused.ok and refused.error_code == "unauthorized"
    ok = await app.dispatcher.press("cmd:restart web", ctx("slack", "U_OP"))
    assert ok.ok
