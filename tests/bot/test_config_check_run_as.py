"""``procbot check-config`` refuses what a start would: users, groups, env files and limits, naming the key.

In-process (``bot.cli.main``) as root, like the daemon here; the not-root cases run the same check in a
real process that has dropped to ``nobody`` after its imports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main as cli_main

PY = sys.executable
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="procbot runs as root here")


def _check(cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli_main(["check-config", "-c", str(cfg)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err + captured.out


def _config(tmp: Path, program: str) -> Path:
    cfg = tmp / "procbot.toml"
    cfg.write_text(f'[procbot]\nstate_dir = "state"\n[[program]]\nname = "web"\ncommand = ["/bin/sleep", "60"]\n'
                   f"{textwrap.dedent(program)}")
    return cfg


@ROOT_ONLY
def test_an_unknown_user_is_refused_naming_the_programs_user_key(tmp_path, capsys):
    cfg = _config(tmp_path, 'user = "no-such-user-x"\n')
    code, out = _check(cfg, capsys)
    assert code == 2
    assert f"{cfg}: program[web].user: no such user 'no-such-user-x'" in out


@ROOT_ONLY
def test_an_unknown_group_is_refused_naming_the_key(tmp_path, capsys):
    cfg = _config(tmp_path, 'user = "nobody"\nuser_group = "no-such-group-x"\n')
    code, out = _check(cfg, capsys)
    assert code == 2
    assert f"{cfg}: program[web].user_group: no such group 'no-such-group-x'" in out


@ROOT_ONLY
def test_an_unknown_supplementary_group_is_refused_naming_the_key(tmp_path, capsys):
    cfg = _config(tmp_path, 'user = "nobody"\nextra_groups = ["users", "nor-this-x"]\n')
    code, out = _check(cfg, capsys)
    assert code == 2
    assert f"{cfg}: program[web].extra_groups: no such group 'nor-this-x'" in out


def test_a_missing_env_file_is_refused_and_an_optional_one_is_not(tmp_path, capsys):
    cfg = _config(tmp_path, 'env_file = ["-optional.env", "missing.env"]\n')
    code, out = _check(cfg, capsys)
    assert code == 2
    assert f"{cfg}: program[web].env_file: {tmp_path / 'missing.env'} does not exist" in out
    assert "optional.env" not in out


def test_an_env_file_line_that_does_not_parse_is_refused_with_file_and_line(tmp_path, capsys):
    (tmp_path / "app.env").write_text("A=1\n# comment\n\nB = 'unterminated secret-value\nC=3\n")
    cfg = _config(tmp_path, 'env_file = ["app.env"]\n')
    code, out = _check(cfg, capsys)
    assert code == 2
    assert f"{cfg}: program[web].env_file: {tmp_path / 'app.env'} line 4: not a KEY=value line" in out
    assert "secret-value" not in out


def test_an_env_file_key_without_a_value_is_refused_with_its_line(tmp_path, capsys):
    (tmp_path / "app.env").write_text("A=1\nDEBUG\n")
    cfg = _config(tmp_path, 'env_file = ["app.env"]\n')
    code, out = _check(cfg, capsys)
    assert code == 2
    assert f"{tmp_path / 'app.env'} line 2: DEBUG has no value (write DEBUG= for an empty one)" in out


def test_a_good_env_file_passes(tmp_path, capsys):
    (tmp_path / "app.env").write_text('export A=1\nB="two words"  # comment\nC=\n')
    cfg = _config(tmp_path, 'env_file = ["app.env"]\n')
    assert _check(cfg, capsys)[0] == 0


def test_an_unknown_limit_and_a_bad_size_are_refused(tmp_path, capsys):
    cfg = _config(tmp_path, 'limits = { nofiles = 10 }\n')
    code, out = _check(cfg, capsys)
    assert code == 2 and f"{cfg}: program[web].limits: unknown limit 'nofiles'" in out
    cfg = _config(tmp_path, 'limits = { as = "2 gallons" }\n')
    code, out = _check(cfg, capsys)
    assert code == 2 and "program[web].limits: as: '2 gallons' is not a size" in out


@ROOT_ONLY
def test_a_nofile_limit_above_the_kernels_nr_open_is_refused_naming_the_key(tmp_path, capsys):
    nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
    cfg = _config(tmp_path, f"limits = {{ nofile = {nr_open + 1} }}\n")
    code, out = _check(cfg, capsys)
    assert code == 2
    assert f"{cfg}: program[web].limits.nofile: nofile {nr_open + 1} is above the kernel's fs.nr_open" in out


@ROOT_ONLY
def test_a_cwd_the_user_cannot_enter_is_refused(tmp_path, capsys):
    closed = tmp_path / "closed"
    (closed / "app").mkdir(parents=True)
    os.chmod(closed, 0o700)
    cfg = _config(tmp_path, f'user = "nobody"\ncwd = "{closed / "app"}"\n')
    code, out = _check(cfg, capsys)
    assert code == 2
    assert f"program[web].cwd: user 'nobody' cannot enter {closed / 'app'}: " in out


@ROOT_ONLY
def test_an_executable_the_user_cannot_run_is_refused(tmp_path, capsys):
    exe = tmp_path / "private" / "app"
    exe.parent.mkdir()
    shutil.copy("/bin/true", exe)
    os.chmod(exe, 0o700)
    cfg = tmp_path / "procbot.toml"
    cfg.write_text(f'[procbot]\nstate_dir = "state"\n[[program]]\nname = "web"\ncommand = ["{exe}"]\n'
                   'user = "nobody"\n')
    code, out = _check(cfg, capsys)
    assert code == 2
    assert f"program[web].command: user 'nobody' cannot run {exe}: " in out


# -- procbot not running as root ------------------------------------------------------
@pytest.fixture
def open_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="procbot-check-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _check_as_nobody(cfg: Path) -> subprocess.CompletedProcess[str]:
    """check-config's spawn checks in a real process that loaded the config as root, then became nobody
    (the venv's interpreter and libraries may be under root's 0700 home, so nothing is imported after)."""
    code = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        import bot.config_check, dotenv.parser
        from bot.config_loader import load_config
        config = load_config(Path({str(cfg)!r}))
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        problems = [p for program in config.program for p in bot.config_check.spawn_problems(config, program)]
        for key, problem in problems:
            print(f"{{config.source}}: {{key}}: {{problem}}", file=sys.stderr)
        sys.exit(2 if problems else 0)
    """)
    return subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=str(Path(__file__).resolve().parents[2]),
                          env={**os.environ, "PYDANTIC_DISABLE_PLUGINS": "__all__"})


@ROOT_ONLY
def test_a_procbot_that_is_not_root_refuses_another_user_saying_its_uid(open_dir):
    cfg = open_dir / "procbot.toml"
    cfg.write_text('[procbot]\nstate_dir = "state"\n[[program]]\nname = "web"\ncommand = ["/bin/sleep", "60"]\n'
                   'user = "daemon"\n')
    os.chmod(cfg, 0o644)
    out = _check_as_nobody(cfg)
    assert out.returncode == 2, out.stderr + out.stdout
    assert (f"{cfg}: program[web].user: procbot runs as uid 65534, not root, and cannot switch to user 'daemon' "
            "(uid 1)") in out.stderr


@ROOT_ONLY
def test_a_procbot_that_is_not_root_refuses_a_limit_above_its_own_hard_limit(open_dir):
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    cfg = open_dir / "procbot.toml"
    cfg.write_text('[procbot]\nstate_dir = "state"\n[[program]]\nname = "web"\ncommand = ["/bin/sleep", "60"]\n'
                   f"limits = {{ nofile = {hard + 1}, core = 0 }}\n")
    os.chmod(cfg, 0o644)
    out = _check_as_nobody(cfg)
    assert out.returncode == 2, out.stderr + out.stdout
    assert (f"program[web].limits.nofile: nofile {hard + 1} is above procbot's own hard limit ({hard}); "
            "only root can raise a hard limit") in out.stderr
    assert "limits.core" not in out.stderr


@ROOT_ONLY
def test_a_procbot_that_is_not_root_accepts_its_own_user(open_dir):
    cfg = open_dir / "procbot.toml"
    cfg.write_text('[procbot]\nstate_dir = "state"\n[[program]]\nname = "web"\ncommand = ["/bin/sleep", "60"]\n'
                   'user = "nobody"\numask = "0077"\n')
    os.chmod(cfg, 0o644)
    out = _check_as_nobody(cfg)
    assert out.returncode == 0, out.stderr + out.stdout
