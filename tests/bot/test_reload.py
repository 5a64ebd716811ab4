"""`reload` applies config changes like `supervisorctl update`: add, remove, restart changed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from core.actor import Actor, CommandContext
from tests.conftest import sleeper
from tests.helpers import alive, wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))


def toml_program(name: str, tag: str, extra: str = "") -> str:
    argv = ", ".join(f'"{a}"' if "\n" not in a else '"' + a.replace("\n", "\\n") + '"' for a in sleeper(tag))
    return f'\n[[program]]\nname = "{name}"\ncommand = [{argv}]\n{extra}'


@asynccontextmanager
async def reloadable_app(tmp_path: Path, programs: str) -> AsyncIterator[tuple[object, Callable[[str], None]]]:
    """A started App whose config file holds ``programs``, and the function that rewrites those programs."""
    from bot.app import App
    from bot.config_loader import load_config

    cfg = tmp_path / "procbot.toml"
    head = f'[procbot]\nstate_dir = "{tmp_path / "st"}"\n'

    def rewrite(new: str) -> None:
        cfg.write_text(head + new)

    rewrite(programs)
    app = App(load_config(cfg), with_adapters=False, console_events=False)
    await app.start()
    try:
        yield app, rewrite
    finally:
        await app.stop()


async def test_reload_adds_removes_and_restarts_changed_programs(make_app, tmp_path):
    first = toml_program("keep", "r-keep") + toml_program("drop", "r-drop") + toml_program("change", "r-change")
    async with reloadable_app(tmp_path, first) as (app, rewrite):
        keep, drop, change = (app.supervisor.state(n).pid for n in ("keep", "drop", "change"))
        rewrite(toml_program("keep", "r-keep") + toml_program("change", "r-change", 'group = "g"\n')
                + toml_program("new", "r-new"))
        reply = await app.dispatcher.handle("reload", CLI)
        assert reply.ok, reply.text
        assert "added: new" in reply.text and "removed: drop" in reply.text and "changed: change" in reply.text
        assert app.supervisor.state("keep").pid == keep
        assert not alive(drop)
        assert "drop" not in app.supervisor.names()
        await wait_for(lambda: app.supervisor.state("change").pid not in (None, change))
        assert app.supervisor.state("change").group == "g"
        assert alive(app.supervisor.state("new").pid)


async def test_a_broken_config_on_reload_changes_nothing(make_app, tmp_path):
    async with reloadable_app(tmp_path, toml_program("keep", "rb-keep")) as (app, rewrite):
        pid = app.supervisor.state("keep").pid
        rewrite(toml_program("keep", "rb-keep", "restart = 'sometimes'\n"))
        reply = await app.dispatcher.handle("reload", CLI)
        assert not reply.ok
        assert "program[keep].restart" in reply.text
        assert app.supervisor.state("keep").pid == pid and alive(pid)


def toml_instances(name: str, tag: str, n: int) -> str:
    return toml_program(name, tag, f"instances = {n}\n")


async def test_reload_with_fewer_instances_stops_the_extra_ones(tmp_path):
    async with reloadable_app(tmp_path, toml_instances("web", "ri-fewer", 4)) as (app, rewrite):
        pids = [app.supervisor.state(f"web:{i}").pid for i in range(4)]
        rewrite(toml_instances("web", "ri-fewer", 2))
        reply = await app.dispatcher.handle("reload", CLI)
        assert reply.ok, reply.text
        assert "removed: web:2, web:3" in reply.text
        assert [n for n in app.supervisor.names()] == ["web:0", "web:1"]
        assert [app.supervisor.state(f"web:{i}").pid for i in range(2)] == pids[:2]  # untouched
        assert not alive(pids[2]) and not alive(pids[3])


async def test_reload_with_more_instances_starts_the_new_ones(tmp_path):
    async with reloadable_app(tmp_path, toml_instances("web", "ri-more", 2)) as (app, rewrite):
        pids = [app.supervisor.state(f"web:{i}").pid for i in range(2)]
        rewrite(toml_instances("web", "ri-more", 4))
        reply = await app.dispatcher.handle("reload", CLI)
        assert reply.ok, reply.text
        assert "added: web:2, web:3" in reply.text and "changed" not in reply.text
        assert [app.supervisor.state(f"web:{i}").pid for i in range(2)] == pids
        assert all(alive(app.supervisor.state(f"web:{i}").pid) for i in (2, 3))


async def test_reload_that_changes_only_the_start_order_restarts_nothing(tmp_path):
    async with reloadable_app(tmp_path, toml_program("db", "ro-db") + toml_program("web", "ro-web")) as (app, rewrite):
        pid = app.supervisor.state("web").pid
        rewrite(toml_program("db", "ro-db") + toml_program("web", "ro-web", 'depends_on = ["db"]\npriority = 5\n'))
        reply = await app.dispatcher.handle("reload", CLI)
        assert reply.ok and reply.text == "no program changes", reply.text
        assert app.supervisor.state("web").pid == pid
        assert app.supervisor.order.starts_after("web") == ("db",)
