"""``env_file``: dotenv files merged between procbot's environment and ``env``, read at each start.

The child prints its environment as JSON to its log; the tests read it there.
"""

from __future__ import annotations

import json
import sys

from core.actor import Actor, CommandContext
from core.process.logs import log_path
from tests.helpers import wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
PY = sys.executable
DUMP = [PY, "-c", "import json, os; print(json.dumps(dict(os.environ)), flush=True)"]


async def _child_env(app, name: str = "envdump", run: int = 1) -> dict[str, str]:
    path = log_path(app.config.log_dir, name)
    await wait_for(lambda: path.exists() and len(path.read_text().splitlines()) >= run)
    return json.loads(path.read_text().splitlines()[run - 1])


async def test_env_files_merge_over_procbots_environment_in_order_and_under_env(make_app, tmp_path):
    (tmp_path / "one.env").write_text("FROM_PROCBOT=one\nA=one\nB=one\n")
    (tmp_path / "two.env").write_text("export B=two\nC='two'\n")
    environ = {"PATH": "/usr/bin:/bin", "FROM_PROCBOT": "procbot", "ONLY_PROCBOT": "procbot"}
    app = await make_app([{"name": "envdump", "command": DUMP, "restart": "never",
                           "env_file": ["one.env", str(tmp_path / "two.env")], "env": {"C": "env"}}],
                         environ=environ)
    env = await _child_env(app)
    assert {k: env[k] for k in ("ONLY_PROCBOT", "FROM_PROCBOT", "A", "B", "C")} == {
        "ONLY_PROCBOT": "procbot", "FROM_PROCBOT": "one", "A": "one", "B": "two", "C": "env"}


async def test_env_file_values_are_not_interpolated(make_app, tmp_path):
    (tmp_path / "app.env").write_text('REF=${SLACK_BOT_TOKEN}\nHOME_REF="$HOME/x"\n')
    app = await make_app([{"name": "envdump", "command": DUMP, "restart": "never", "env_file": ["app.env"]}],
                         environ={"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-secret", "HOME": "/root"})
    env = await _child_env(app)
    assert (env["REF"], env["HOME_REF"]) == ("${SLACK_BOT_TOKEN}", "$HOME/x")


async def test_an_optional_env_file_that_is_missing_is_skipped(make_app, tmp_path):
    (tmp_path / "app.env").write_text("A=1\n")
    app = await make_app([{"name": "envdump", "command": DUMP, "restart": "never",
                           "env_file": ["-missing.env", "app.env"]}])
    assert (await _child_env(app))["A"] == "1"


async def test_a_restart_reads_the_env_file_again(make_app, tmp_path):
    env_path = tmp_path / "app.env"
    env_path.write_text("VERSION=1\n")
    app = await make_app([{"name": "envdump", "command": DUMP, "restart": "never", "env_file": ["app.env"]}])
    assert (await _child_env(app))["VERSION"] == "1"
    env_path.write_text("VERSION=2\n")
    await wait_for(lambda: not app.supervisor.state("envdump").state.is_up)  # its exit is seen, not only its line
    assert (await app.dispatcher.handle("start envdump", CLI)).ok
    assert (await _child_env(app, run=2))["VERSION"] == "2"


async def test_an_env_file_that_does_not_parse_at_start_is_a_spawn_error_naming_file_and_line(make_app, tmp_path):
    (tmp_path / "bad.env").write_text("A=1\n\n# fine\nthis is not a binding secret-value\n")
    app = await make_app([{"name": "envdump", "command": DUMP, "restart": "never", "env_file": ["bad.env"]}])
    st = app.supervisor.state("envdump")
    await wait_for(lambda: "bad.env" in st.message)
    assert f"{tmp_path / 'bad.env'} line 4: not a KEY=value line" in st.message
    assert "secret-value" not in st.message
    assert st.pid is None


async def test_info_shows_env_keys_and_their_files_but_no_values(make_app, tmp_path):
    (tmp_path / "app.env").write_text("DB_PASSWORD=hunter2-file\n")
    app = await make_app([{"name": "envdump", "command": DUMP, "restart": "never", "env_file": ["app.env"],
                           "env": {"API_TOKEN": "tok-env-value"}}],
                         environ={"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-procbots-own"})
    reply = await app.dispatcher.handle("info envdump", CLI)
    shown = json.dumps([(f.name, f.value) for f in reply.fields]) + reply.text + json.dumps(reply.data)
    assert "DB_PASSWORD (app.env)" in shown and "API_TOKEN (env)" in shown
    for value in ("hunter2-file", "tok-env-value", "xoxb-procbots-own"):
        assert value not in shown
