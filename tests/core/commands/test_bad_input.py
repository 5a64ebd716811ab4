"""Bad input gets a clear error, an audit row, and nothing else happens."""

from __future__ import annotations

import asyncio
import sys

import pytest

from core.actor import Actor, CommandContext
from core.commands.grammar import parse
from core.errors import InvalidInput
from core.process.events import EventKind, ProgramEvent
from core.process.states import State
from tests.conftest import sleeper

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable


def iter_queue(q: asyncio.Queue[ProgramEvent]) -> list[ProgramEvent]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("start", "Usage: `start <target>`"),
        ("start web; rm -rf /", "Usage"),
        ("start web;reboot", "not a program name"),
        ("start $(reboot)", "not a program name"),
        ("start `id`", "not a program name"),
        ("start web|cat", "not a program name"),
        ("start ../../etc/passwd", "not a program name"),
        ("start web\x1b[31m", "control characters"),
        ("start web\x00", "control characters"),
        ("logs web lots", "not a positive whole number"),
        ("logs web -5", "not a positive whole number"),
        ("logs group:workers", "takes one program name"),
        ("silence web forever", "not a duration"),
        ("silence web 0m", "between 1s and 90d"),
        ("frobnicate web", "Unknown command"),
        ("status --everything", "Unknown option"),
        ("x" * 4001, "too long"),
    ],
)
def test_malformed_commands_are_rejected_with_a_clear_message(text, fragment):
    with pytest.raises(InvalidInput) as err:
        parse(text)
    assert fragment in str(err.value)


def test_a_near_miss_verb_gets_a_suggestion():
    with pytest.raises(InvalidInput, match="Did you mean `restart`"):
        parse("restrat web")


def test_echoed_input_is_rendered_inert():
    with pytest.raises(InvalidInput) as err:
        parse("start <!channel>@here")
    assert "<!channel>" not in str(err.value) and "@here" not in str(err.value)


def test_empty_text_means_help():
    assert parse("   ").verb == "help"


async def test_unknown_program_is_an_error_with_suggestions_and_nothing_runs(make_app):
    app = await make_app([{"name": "web", "command": sleeper("bad-web"), "autostart": False}])
    reply = await app.dispatcher.handle("start wbe", CLI)
    assert not reply.ok
    assert reply.error_code == "not_found"
    assert "Did you mean: web" in reply.text
    assert app.supervisor.state("web").state is State.STOPPED


async def test_unknown_group_is_an_error(make_app):
    app = await make_app([{"name": "web", "command": sleeper("g"), "group": "workers", "autostart": False}])
    reply = await app.dispatcher.handle("start group:worker", CLI)
    assert not reply.ok and "group:workers" in reply.text


async def test_every_bad_command_is_audited(make_app):
    app = await make_app([])
    await app.dispatcher.handle("start $(reboot)", CLI)
    await app.dispatcher.handle("stop nothing-here", CLI)
    rows = await app.registry.audit_rows(10)
    assert [r.outcome for r in rows] == ["error", "invalid"]
    assert rows[1].command == "start $(reboot)"


async def test_a_missing_executable_is_a_spawn_error_and_procbot_keeps_running(make_app):
    app = await make_app([
        {"name": "ghost", "command": ["/no/such/binary", "--flag"]},
        {"name": "fine", "command": sleeper("fine")},
    ], start=False)
    events = app.bus.subscribe()
    await app.start()
    ghost = app.supervisor.state("ghost")
    assert ghost.state is State.BACKOFF  # a failed automatic start is retried like a crash (issue 7)
    assert "not found" in ghost.message
    failed = [e for e in iter_queue(events) if e.program == "ghost"]
    assert [e.kind for e in failed] == [EventKind.SPAWN_FAILED]  # the event alerts are raised from
    assert "/no/such/binary" in failed[0].message
    assert app.supervisor.state("fine").state.is_up
    reply = await app.dispatcher.handle("start ghost", CLI)
    assert not reply.ok
    assert reply.error_code == "action_failed"
    assert "/no/such/binary" in reply.text


async def test_a_missing_working_directory_is_named(make_app, tmp_path):
    app = await make_app([{"name": "lost", "command": [PY, "-c", "pass"], "cwd": str(tmp_path / "nowhere")}])
    assert app.supervisor.state("lost").state is State.BACKOFF  # autostart retries with the backoff
    assert "working directory" in app.supervisor.state("lost").message
    assert "nowhere" in app.supervisor.state("lost").message


async def test_shell_metacharacters_in_argv_reach_the_program_literally(make_app, tmp_path):
    marker = tmp_path / "pwned"
    cmd = [PY, "-c", "import sys; print(sys.argv[1:], flush=True)", f"; touch {marker}", "$(id)", "`id`"]
    app = await make_app([{"name": "literal", "command": cmd, "restart": "never"}])
    from core.process.logs import log_path
    from tests.helpers import wait_for

    path = log_path(app.config.log_dir, "literal")
    await wait_for(lambda: path.exists() and path.read_text())
    assert "$(id)" in path.read_text()
    assert not marker.exists()
