"""Whatever ``run`` would reject, ``check-config`` rejects first, naming the file and the key; no traceback.

Each case below passed ``check-config`` or crashed it, and then broke ``procbot run`` (a traceback, or
an error after every program had started). Now both refuse it with exit 2 and the same message, and
``run`` starts nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from core.spec import RESERVED_NAMES
from tests.helpers import REPO, kill_tagged, unique_tag

ROOT = REPO
PY = sys.executable


def _procbot(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def _program(tag: str, name: str = "app", extra: str = "") -> str:
    return f'[[program]]\nname = "{name}"\ncommand = ["{PY}", "-c", "import time; time.sleep(60)  # {tag}"]\n{extra}'


def _setup(tmp: Path) -> None:
    (tmp / "a-file").write_text("not a directory\n")
    (tmp / "binary.toml").write_bytes(b"\x00\xff\xfe\x00 not text")
    (tmp / "a-dir").mkdir()
    (tmp / "nul.toml").write_text('token = "abc\\u0000def"\n')
    (tmp / "shared").mkdir()
    os.chmod(tmp / "shared", 0o777)


CASES = {
    "log_dir is a file": ('log_dir = "a-file"\n', "", "procbot.log_dir", "not a directory"),
    "state_dir is a file": ('state_dir = "a-file"\n', "", "procbot.state_dir", "not a directory"),
    "state_dir below a file": ('state_dir = "a-file/state"\n', "", "procbot.state_dir", "not a directory"),
    "token_file missing": ("", '[discord]\ntoken_file = "no-such.toml"\n', "discord.token_file", "does not exist"),
    "token_file binary": ("", '[discord]\ntoken_file = "binary.toml"\n', "discord.token_file", "UTF-8"),
    "token_file a directory": ("", '[slack]\ntoken_file = "a-dir"\n', "slack.token_file", "not a file"),
    "token_file holding NUL": ("", '[discord]\ntoken_file = "nul.toml"\n', "discord.token_file", "NUL"),
    "NUL in state_dir": ('state_dir = "st\\u0000x"\n', "", "procbot.state_dir", "NUL"),
    "NUL in cwd": ("", "{program_cwd_nul}", "program[app].cwd", "NUL"),
    "NUL in an env value": ("", "{program_env_nul}", "program[app].env", "NUL"),
    "NUL in a pidfile": ("", '[[watch]]\nname = "w"\npidfile = "a\\u0000b"\n', "watch[w].pidfile", "NUL"),
    "socket path too long": ('state_dir = "' + "d" * 110 + '"\n', "{program}", "procbot.state_dir", "107"),
    "grace = inf": ("", '[[digest]]\nname = "d"\ncron = "0 9 * * *"\nto = ["console"]\ngrace = inf\n',
                    "digest[d].grace", "finite"),
    "a cron that never fires": ("", '[[digest]]\nname = "d"\ncron = "0 0 31 2 *"\nto = ["console"]\n',
                                "digest[d].cron", "never"),
    "state_dir of an unknown user": ('state_dir = "~nosuchuser/x"\n', "", "procbot.state_dir", "nosuchuser"),
    "duplicate names": ("", "{program}" + '[[watch]]\nname = "app"\npattern = "x"\n', "watch[app].name",
                        "used twice"),
    "a program named all": ("", "{program_all}", "program[all].name", "reserved"),
    "a group/world-writable state_dir": ('state_dir = "shared"\n', "", "procbot.state_dir", "writable"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_check_config_and_run_refuse_the_same_config_naming_the_key(tmp_path, capsys, case):
    procbot_extra, body, key, problem = CASES[case]
    tag = unique_tag("cfgcase")
    body = body.format(program=_program(tag), program_all=_program(tag, "all"),
                       program_cwd_nul=_program(tag, extra='cwd = "/tmp\\u0000"\n'),
                       program_env_nul=_program(tag, extra='env = { X = "a\\u0000b" }\n'))
    if "state_dir" not in procbot_extra:
        procbot_extra = 'state_dir = "state"\n' + procbot_extra
    _setup(tmp_path)
    cfg = tmp_path / "procbot.toml"
    cfg.write_text(f"[procbot]\n{procbot_extra}{body}")
    try:
        code = cli_main(["check-config", "-c", str(cfg)])  # in-process: an exception would fail the test
        captured = capsys.readouterr()
        check = subprocess.CompletedProcess([], code, captured.out, captured.err)
        run = _procbot("run", "-c", str(cfg))
    finally:
        kill_tagged(tag)
    for what, out in (("check-config", check), ("run", run)):
        assert "Traceback" not in out.stderr, f"{what}: {out.stderr}"
        assert out.returncode == 2, f"{what} exited {out.returncode}: {out.stderr}{out.stdout}"
        assert f"{cfg}: {key}: " in out.stderr and problem in out.stderr, f"{what}: {out.stderr}"
    assert not (tmp_path / "state" / "procbot.db").exists()  # run started nothing


def test_check_config_reports_every_error_in_the_file_not_only_the_first(tmp_path):
    cfg = tmp_path / "procbot.toml"
    (tmp_path / "a-file").write_text("x")
    cfg.write_text('[procbot]\nstate_dir = "state"\nlog_dir = "a-file"\nscan_interval = "fast"\n'
                   '[[program]]\nname = "web"\ncommand = ["/no/such/exe"]\nrestrat = "always"\n'
                   '[[digest]]\nname = "d"\ncron = "0 0 31 2 *"\nto = ["console"]\n')
    out = _procbot("check-config", "-c", str(cfg))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    for key in ("procbot.scan_interval", "program[web].restrat", "procbot.log_dir", "digest[d].cron"):
        assert f"{cfg}: {key}: " in out.stderr, (key, out.stderr)


def test_the_reserved_target_words_are_the_ones_the_grammar_reads_as_targets():
    from core.commands.grammar import parse_target

    for word in RESERVED_NAMES:
        assert parse_target(word).kind != "program"


def test_run_with_a_state_dir_it_cannot_write_says_so_without_a_traceback(tmp_path):
    import shutil

    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    if subprocess.run(["chattr", "+i", str(state)], capture_output=True).returncode != 0:
        pytest.skip("this file system does not support chattr +i")
    try:
        cfg = tmp_path / "procbot.toml"
        cfg.write_text('[procbot]\nstate_dir = "state"\n')
        run = _procbot("run", "-c", str(cfg))
    finally:
        subprocess.run(["chattr", "-i", str(state)], check=True)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 1 and str(state) in run.stderr, run.stderr
