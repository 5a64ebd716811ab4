"""Broken config: an error that names the file and the key; exit status 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config_loader import load_config
from core.errors import ConfigError
from tests.helpers import REPO, assert_refused

ROOT = REPO


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "procbot.toml"
    p.write_text(body)
    return p


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('[[program]]\nname = "web"\ncommand = ["x"]\nrestrat = "always"\n', "program[web].restrat", "unknown key"),
        ('[[program]]\nname = "web"\ncommand = "python app.py"\n', "program[web].command", "list"),
        ('[[program]]\nname = "web"\n', "program[web].command", "required key is missing"),
        ('[[program]]\nname = "web"\ncommand = ["x"]\nrestart = "sometimes"\n', "program[web].restart", "always"),
        ('[[program]]\nname = "web"\ncommand = ["x"]\nstop_signal = "SIGFOO"\n', "program[web].stop_signal",
         "unknown signal"),
        ('[[program]]\nname = "web;reboot"\ncommand = ["x"]\n', "program[web;reboot].name", "pattern"),
        ('[procbot]\nscan_interval = "fast"\n', "procbot.scan_interval", "number"),
        ('[[watch]]\nname = "w"\n', "watch[w]", "exactly one of pidfile or pattern"),
        ('[[watch]]\nname = "w"\npattern = "(unclosed"\n', "watch[w]", "regular expression"),
        ('[[program]]\nname = "a"\ncommand = ["x"]\n[[program]]\nname = "a"\ncommand = ["y"]\n', "program[a].name",
         "used twice"),
        ('[permissions]\ngrants = [{ role = "god", users = ["U1"] }]\n', "permissions.grants[0].role", "viewer"),
    ],
)
def test_config_errors_name_the_file_and_the_key(tmp_path, body, key, problem):
    assert_refused(write(tmp_path, body), key, problem)


def test_invalid_toml_is_reported_with_its_position(tmp_path):
    path = write(tmp_path, "[procbot\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_check_config_exits_2_without_a_traceback(tmp_path):
    path = write(tmp_path, '[[program]]\nname = "web"\ncommand = ["x"]\nbogus = 1\n')
    out = subprocess.run([sys.executable, "-m", "bot.cli", "check-config", "-c", str(path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert "program[web].bogus: unknown key" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_config_flags_a_missing_executable(tmp_path):
    path = write(tmp_path, '[[program]]\nname = "web"\ncommand = ["/no/such/exe"]\n')
    out = subprocess.run([sys.executable, "-m", "bot.cli", "check-config", "-c", str(path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert "program[web].command" in out.stderr and "/no/such/exe" in out.stderr


def test_run_with_a_broken_config_exits_2_and_starts_nothing(tmp_path):
    path = write(tmp_path, '[procbot]\nstate_dir = "st"\n[[program]]\nname = "web"\ncommand = ["x"]\nwat = 1\n')
    out = subprocess.run([sys.executable, "-m", "bot.cli", "run", "-c", str(path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert out.returncode == 2
    assert "program[web].wat: unknown key" in out.stderr
    assert not (tmp_path / "st").exists()


def test_the_shipped_configs_are_valid():
    for name in ("demo.toml", "procbot.example.toml"):
        load_config(ROOT / "config" / name)
