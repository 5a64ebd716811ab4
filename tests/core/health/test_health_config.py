"""The health table at check-config: its shape, and targets off this host refused unless allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from bot.config_loader import validate
from tests.helpers import REPO, assert_refused

PY = sys.executable


def _config(tmp: Path, health: str) -> Path:
    cfg = tmp / "procbot.toml"
    cfg.write_text(f'[procbot]\nstate_dir = "state"\n[[program]]\nname = "web"\ncommand = ["{PY}", "-V"]\n'
                   f"health = {health}\n")
    return cfg


@pytest.mark.parametrize(("health", "key"), [
    ('{ http = "http://10.1.2.3:8080/healthz" }', "program[web].health.http"),
    ('{ http = "https://example.com/healthz" }', "program[web].health.http"),
    ('{ tcp = "db.internal:5432" }', "program[web].health.tcp"),
])
def test_a_target_off_this_host_is_refused_by_check_config_and_run_naming_the_key(tmp_path, capsys, health, key):
    cfg = _config(tmp_path, health)
    assert cli_main(["check-config", "-c", str(cfg)]) == 2
    assert f"{cfg}: {key}: " in capsys.readouterr().err
    assert_refused(cfg, key, "is not this host")
    run = subprocess.run([PY, "-m", "bot.cli", "run", "-c", str(cfg)], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert run.returncode == 2 and f"{cfg}: {key}: " in run.stderr, run.stderr
    assert not (tmp_path / "state" / "procbot.db").exists()


@pytest.mark.parametrize("health", [
    '{ http = "http://127.0.0.1:8080/healthz" }', '{ http = "http://localhost/" }',
    '{ http = "http://[::1]:8080/" }', '{ tcp = "127.0.0.2:5432" }',
    '{ http = "https://example.com/healthz", allow_remote = true }',
])
def test_a_loopback_target_or_an_allowed_remote_one_passes_check_config(tmp_path, health):
    assert cli_main(["check-config", "-c", str(_config(tmp_path, health))]) == 0


@pytest.mark.parametrize(("health", "key", "problem"), [
    ("{}", "program[web].health", "exactly one of http, tcp or command"),
    ('{ http = "http://127.0.0.1/", command = ["true"] }', "program[web].health", "exactly one"),
    ('{ command = "pg_isready -q" }', "program[web].health.command", "never runs a shell"),
    ('{ tcp = "127.0.0.1" }', "program[web].health.tcp", "host:port"),
    ('{ http = "ftp://127.0.0.1/" }', "program[web].health.http", "http://"),
    ('{ tcp = "127.0.0.1:1", failures = 0 }', "program[web].health.failures", "greater than or equal to 1"),
])
def test_a_malformed_health_table_names_its_key(health, key, problem):
    import tomllib

    data = tomllib.loads(f'[[program]]\nname = "web"\ncommand = ["x"]\nhealth = {health}\n')
    _, problems = validate(data, "procbot.toml")
    assert any(k == key and problem in p for k, p in problems), problems


def test_on_unhealthy_defaults_to_restart():
    import tomllib

    data = tomllib.loads('[[program]]\nname = "web"\ncommand = ["x"]\nhealth = { tcp = "127.0.0.1:1" }\n')
    config, problems = validate(data, "procbot.toml")
    assert problems == [] and config is not None and config.program[0].on_unhealthy == "restart"
