"""The CLI of issue 11 against a real daemon: `pid`, `signal`, `clear`, following a log (`tail`, `logs -f`)
and shell completion (the hidden completer and bash's own completion function)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.cli import rotated_past
from bot.completion import HOST_COMMANDS, SHELLS
from core.commands.catalog import ALIASES, SIGNALS, VERBS
from tests.control_socket_helpers import audit_rows
from tests.daemon_harness import ROOT, Daemon, cli, status_json, write_config

PY = sys.executable
PROCBOT = Path(PY).parent / "procbot"  # the console script pip installs beside the interpreter

WEB = ("import signal, time\\n"
       "signal.signal(signal.SIGHUP, lambda *_: print('got HUP', flush=True))\\n"
       "print('ready', flush=True)\\n"
       "while True: time.sleep(3600)")
#: ~1.2 KB a second into a 2 KiB file: a rotation every two seconds or so
TICKER = "import itertools as it, time\\nfor i in it.count():\\n    print('tick', i, flush=True)\\n    time.sleep(0.01)"

BODY = f'''
[[program]]
name = "web"
group = "frontend"
command = ["{PY}", "-c", "{WEB}"]

[[program]]
name = "ticker"
command = ["{PY}", "-c", "{TICKER}"]
log = {{ max_bytes = 2048, backups = 2 }}

[[program]]
name = "job"
command = ["{PY}", "-c", "import time; time.sleep(3600)"]
autostart = false
'''


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(write_config(tmp_path_factory.mktemp("cli-follow"), BODY))
    try:
        d.wait_ready(programs=2)
        yield d
    finally:
        d.stop()


def _log(d: Daemon, name: str) -> Path:
    return d.cfg.parent / "state" / "logs" / f"{name}.log"


def _wait(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        time.sleep(0.05)


# -- pid, signal, clear from the command line --------------------------------

def test_pid_prints_the_real_main_pid_alone(daemon):
    out = cli(daemon.cfg, "pid", "web")
    assert out.returncode == 0, out.stdout + out.stderr
    pid = int(out.stdout.strip())
    assert pid == status_json(daemon.cfg)["web"]["pid"]
    stat = Path(f"/proc/{pid}/stat").read_text()
    assert stat.rsplit(")", 1)[1].split()[3] == str(pid)  # leads its own process group: the main process


def test_pid_alone_prints_the_daemons_pid(daemon):
    out = cli(daemon.cfg, "pid")
    assert out.returncode == 0 and int(out.stdout) == daemon.proc.pid


def test_pid_of_a_stopped_program_fails_with_a_message(daemon):
    out = cli(daemon.cfg, "pid", "job")
    assert out.returncode == 1 and "`job` is not running" in out.stdout


def test_signal_hup_from_the_cli_reaches_the_program(daemon):
    log = _log(daemon, "web")
    _wait(lambda: log.exists() and "ready" in log.read_text(), what="web ready")
    before = log.read_text().count("got HUP")
    out = cli(daemon.cfg, "signal", "web", "SIGHUP")
    assert out.returncode == 0, out.stdout + out.stderr
    _wait(lambda: log.read_text().count("got HUP") == before + 1, what="HUP handled")


def test_an_unknown_signal_from_the_cli_is_a_usage_error_and_audited(daemon):
    out = cli(daemon.cfg, "signal", "web", "SIGNOPE")
    assert out.returncode == 2 and "not a signal procbot sends" in out.stdout
    row = audit_rows(daemon.cfg)[-1]
    assert (row["command"], row["outcome"]) == ("signal web SIGNOPE", "invalid")


# -- following ------------------------------------------------------------------

class Follower:
    """``procbot ...`` running in the background, its output read line by line as it comes."""

    def __init__(self, cfg: Path, *words: str) -> None:
        self.proc = subprocess.Popen([PY, "-m", "bot.cli", "-c", str(cfg), *words], cwd=ROOT, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def ticks(self) -> list[int]:
        return [int(x.split()[1]) for x in self.lines if x.startswith("tick ")]

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(20)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.mark.parametrize("words", [("tail", "ticker"), ("logs", "ticker", "-f"), ("logs", "--follow", "ticker")],
                         ids=" ".join)
def test_following_prints_lines_written_afterwards_and_ctrl_c_exits_0(daemon, words):
    follower = Follower(daemon.cfg, *words)
    try:
        _wait(lambda: follower.ticks(), what="the first lines")
        first = follower.ticks()[-1]
        _wait(lambda: follower.ticks()[-1] >= first + 5, what="lines written after the start")
        code = follower.interrupt()
        assert code == 0
        assert "Traceback" not in follower.proc.stderr.read()
    finally:
        follower.kill()


def test_following_goes_on_across_rotations_without_a_gap(daemon):
    follower = Follower(daemon.cfg, "tail", "ticker")
    try:
        log = _log(daemon, "ticker")
        _wait(lambda: follower.ticks(), what="the first lines")
        inode = log.stat().st_ino
        _wait(lambda: log.stat().st_ino != inode, what="a rotation")
        inode = log.stat().st_ino
        _wait(lambda: log.stat().st_ino != inode, what="a second rotation")
        seen = follower.ticks()[-1]
        _wait(lambda: follower.ticks()[-1] > seen, what="lines after the rotations")
        assert follower.interrupt() == 0
        ticks = follower.ticks()
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))
    finally:
        follower.kill()


def test_a_follower_goes_on_after_clear(daemon):
    follower = Follower(daemon.cfg, "tail", "ticker")
    try:
        _wait(lambda: follower.ticks(), what="the first lines")
        out = cli(daemon.cfg, "clear", "ticker")
        assert out.returncode == 0, out.stdout + out.stderr
        seen = follower.ticks()[-1]
        _wait(lambda: follower.ticks()[-1] >= seen + 5, what="lines after the clear")
        assert follower.interrupt() == 0
        ticks = follower.ticks()
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # a new file: nothing lost, nothing twice
    finally:
        follower.kill()


# -- completion ------------------------------------------------------------------

def _complete(cfg: Path | None, what: str) -> list[str]:
    args = [PY, "-m", "bot.cli", *(["-c", str(cfg)] if cfg else []), "_complete", what]
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stderr == ""
    return out.stdout.split()


def test_the_completer_lists_the_daemons_programs(daemon):
    assert _complete(daemon.cfg, "programs") == ["web", "ticker", "job"]


def test_the_completer_offers_programs_groups_and_all_for_a_target(daemon):
    assert _complete(daemon.cfg, "restart") == ["web", "ticker", "job", "group:frontend", "all"]
    assert _complete(daemon.cfg, "groups") == ["group:frontend"]


def test_the_completer_offers_only_program_names_for_a_one_program_verb(daemon):
    assert _complete(daemon.cfg, "logs") == ["web", "ticker", "job"]


def test_the_completer_prints_nothing_without_a_daemon(tmp_path):
    assert _complete(write_config(tmp_path, ""), "programs") == []
    assert _complete(tmp_path / "missing.toml", "programs") == []


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_prints_a_script_for_each_shell(tmp_path, shell):
    out = cli(write_config(tmp_path, ""), "completion", shell)
    assert out.returncode == 0, out.stderr
    assert "_procbot" in out.stdout and all(v.name in out.stdout for v in VERBS)


needs_bash = pytest.mark.skipif(not (shutil.which("bash") and PROCBOT.exists()),
                                reason="needs bash and the installed procbot script")


def _bash_complete(cfg: Path, *words: str) -> list[str]:
    """Run bash's completion function for ``procbot -c CFG <words>`` (the last word is the one being typed)."""
    line = " ".join(f"'{w}'" for w in (str(PROCBOT), "-c", str(cfg), *words))
    script = (f'source <("{PROCBOT}" completion bash); COMP_WORDS=({line}); '
              f'COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); _procbot; printf "%s\\n" "${{COMPREPLY[@]}}"')
    env = {**os.environ, "PATH": f"{PROCBOT.parent}:{os.environ.get('PATH', '')}"}
    out = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.splitlines() if w]


@needs_bash
def test_bash_completes_verbs_from_the_catalog(daemon):
    assert set(_bash_complete(daemon.cfg, "")) == {*HOST_COMMANDS, *(v.name for v in VERBS), *ALIASES}
    assert _bash_complete(daemon.cfg, "rest") == ["restart"]


@needs_bash
def test_bash_completes_the_daemons_programs_and_groups(daemon):
    assert _bash_complete(daemon.cfg, "restart", "") == ["web", "ticker", "job", "group:frontend", "all"]
    assert _bash_complete(daemon.cfg, "restart", "t") == ["ticker"]


@needs_bash
def test_bash_completes_a_group_name_split_at_its_colon(daemon):
    # bash hands `group:fr` over as three words (':' is in COMP_WORDBREAKS) and replaces only the last
    assert _bash_complete(daemon.cfg, "stop", "group", ":", "fr") == ["frontend"]


@needs_bash
def test_bash_completes_signal_names_after_the_target(daemon):
    assert _bash_complete(daemon.cfg, "signal", "web", "") == list(SIGNALS)
    assert _bash_complete(daemon.cfg, "signal", "web", "US") == ["USR1", "USR2"]


@needs_bash
def test_bash_completes_help_topics_with_the_catalog_verbs(daemon):
    assert _bash_complete(daemon.cfg, "help", "") == [v.name for v in VERBS]


def _zsh_complete(cfg: Path, *words: str) -> list[str]:
    """Run the zsh script's ``_procbot`` with ``compadd`` (a builtin of completion widgets) standing in as a
    function that prints what it is given: what a TAB would offer for ``procbot -c CFG <words>``."""
    quoted = " ".join(f"'{w}'" for w in (str(PROCBOT), "-c", str(cfg), *words))
    script = (f'compdef() {{ : }}; source <("{PROCBOT}" completion zsh); '
              'compadd() { [[ $1 == -- ]] && shift; print -l -- "$@" }; '
              f'words=({quoted}); CURRENT=${{#words}}; _procbot')
    out = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.splitlines() if w]


@pytest.mark.skipif(not (shutil.which("zsh") and PROCBOT.exists()), reason="needs zsh and the installed procbot")
def test_zsh_completes_verbs_programs_groups_and_signals(daemon):
    assert set(_zsh_complete(daemon.cfg, "")) == {*HOST_COMMANDS, *(v.name for v in VERBS), *ALIASES}
    assert _zsh_complete(daemon.cfg, "restart", "") == ["web", "ticker", "job", "group:frontend", "all"]
    assert _zsh_complete(daemon.cfg, "signal", "web", "") == list(SIGNALS)


def test_a_follower_that_finds_two_rotations_at_once_reads_the_backup_in_between(tmp_path):
    live, middle, old = (tmp_path / n for n in ("web.log", "web.log.1", "web.log.2"))
    for p in (live, middle, old):
        p.write_text(p.name + "\n")
    assert rotated_past(live, old.stat().st_ino) == [middle]
    assert rotated_past(live, middle.stat().st_ino) == []  # one rotation: nothing skipped
    assert rotated_past(live, 1) == []  # not among the backups (cleared): nothing to read
