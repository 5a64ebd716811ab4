"""``instances``, ``depends_on`` and ``priority`` in the file: what they expand to, and what check-config refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config_loader import config_from_dict
from core.errors import ConfigProblems
from core.spec.instances import MAX_INSTANCES, PLACEHOLDER, family, instance_name, name_matches
from tests.helpers import REPO


def _config(*programs: dict, watch: list[dict] | None = None):
    return config_from_dict({"program": list(programs), "watch": watch or []}, "procbot.toml")


def _prog(name: str, **kw) -> dict:
    return {"name": name, "command": ["true"], **kw}


def _check_config(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "procbot.toml"
    path.write_text(body)
    return subprocess.run([sys.executable, "-m", "bot.cli", "check-config", "-c", str(path)],
                          capture_output=True, text=True, cwd=REPO)


def _problems(*programs: dict, watch: list[dict] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigProblems) as err:
        _config(*programs, watch=watch)
    return err.value.problems


def test_four_instances_are_four_programs_named_with_their_number():
    config = _config(_prog("web", instances=4))
    assert [p.name for p in config.managed] == [instance_name("web", i) for i in range(4)]
    assert [p.name for p in config.program] == ["web"]  # the file as written


def test_the_instance_number_is_substituted_in_argv_env_values_and_cwd():
    config = _config(_prog("web", instances=2, command=["srv", f"--port=80{PLACEHOLDER}"],
                           env={"SLOT": PLACEHOLDER}, cwd=f"/srv/w{PLACEHOLDER}"))
    one = config.managed[1]
    assert one.command == ["srv", "--port=801"]
    assert one.env == {"SLOT": "1"}
    assert one.cwd == "/srv/w1"


def test_other_braces_are_left_as_written():
    config = _config(_prog("web", instances=2, command=["srv", '{"a": 1}', "{instances}", "${HOME}"]))
    assert config.managed[0].command == ["srv", '{"a": 1}', "{instances}", "${HOME}"]


def test_one_instance_keeps_the_plain_name_and_is_instance_zero():
    config = _config(_prog("web", command=["srv", PLACEHOLDER]))
    assert [(p.name, p.command) for p in config.managed] == [("web", ["srv", "0"])]


def test_a_family_pattern_covers_its_instances():
    assert family(instance_name("web", 3)) == "web"
    assert name_matches("web", instance_name("web", 3))
    assert name_matches("web-*", instance_name("web-a", 0))
    assert not name_matches("web", instance_name("webby", 0))
    assert name_matches(instance_name("web", 3), instance_name("web", 3))
    assert not name_matches(instance_name("web", 3), instance_name("web", 2))


@pytest.mark.parametrize("n", [0, -1, MAX_INSTANCES + 1])
def test_a_count_out_of_range_is_refused_naming_the_key(n):
    assert [k for k, _ in _problems(_prog("web", instances=n))] == ["program[web].instances"]


def test_check_config_refuses_zero_instances(tmp_path):
    out = _check_config(tmp_path, '[[program]]\nname = "web"\ncommand = ["true"]\ninstances = 0\n')
    assert out.returncode == 2
    assert "program[web].instances" in out.stderr and "Traceback" not in out.stderr


def test_check_config_refuses_a_cycle_naming_it(tmp_path):
    body = "".join(f'[[program]]\nname = "{n}"\ncommand = ["true"]\ndepends_on = ["{d}"]\n'
                   for n, d in (("a", "b"), ("b", "a")))
    out = _check_config(tmp_path, body)
    assert out.returncode == 2
    assert "program[a].depends_on: cycle a -> b -> a" in out.stderr


def test_check_config_refuses_a_dependency_on_an_unknown_program(tmp_path):
    out = _check_config(tmp_path, '[[program]]\nname = "web"\ncommand = ["true"]\ndepends_on = ["dbb"]\n'
                                  '[[program]]\nname = "db"\ncommand = ["true"]\n')
    assert out.returncode == 2
    assert "program[web].depends_on: no program named 'dbb' (did you mean 'db'?)" in out.stderr


def test_a_longer_cycle_is_named_once_in_full():
    problems = _problems(_prog("a", depends_on=["b"]), _prog("b", depends_on=["c"]), _prog("c", depends_on=["a"]),
                         _prog("d", depends_on=["a"]))
    assert problems == [("program[a].depends_on", "cycle a -> b -> c -> a")]


def test_a_program_depending_on_itself_is_a_cycle():
    assert _problems(_prog("a", depends_on=["a"])) == [("program[a].depends_on", "cycle a -> a")]


def test_a_dependency_may_be_a_watched_program():
    config = _config(_prog("web", depends_on=["pg"]), watch=[{"name": "pg", "pattern": "postgres"}])
    assert config.program[0].depends_on == ["pg"]


def test_a_dependency_on_an_instance_is_refused():
    problems = _problems(_prog("db", instances=2), _prog("web", depends_on=["db:0"]))
    assert [k for k, _ in problems] == ["program[web].depends_on"]


def test_a_dependency_on_a_program_with_its_own_error_is_not_reported_twice():
    problems = _problems(_prog("db", restart="sometimes"), _prog("web", depends_on=["db"]))
    assert [k for k, _ in problems] == ["program[db].restart"]


def test_a_program_named_group_cannot_have_instances():
    assert [k for k, _ in _problems(_prog("group", instances=2))] == ["program[group].instances"]


def test_priority_defaults_to_supervisords():
    assert _config(_prog("web")).program[0].priority == 999
