"""``procbot check-config``: everything that can be checked without starting anything.

Two kinds of problem, one home. :func:`run_problems` are those ``procbot run`` cannot
live with (a state directory that is a file, a socket path too long, a token file it
cannot read, a digest that never fires): ``load_config`` refuses them, so ``run``,
reload and ``check-config`` agree and ``run`` fails before anything starts, never
with a traceback. :func:`advisory_problems` (a missing executable or cwd) leave
``run`` working (the program is marked spawn-error and alerted) but fail
``check-config``, because the config is still wrong.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bot.config_loader import read_config_file, validate
from bot.fleet.credentials import cluster_problems
from bot.platforms import config_problems, unready_destinations
from bot.state_dir import KEY as STATE_DIR_KEY
from bot.state_dir import socket_path, state_dir_problem
from core.errors import ConfigProblems
from core.health.targets import remote_problems
from core.spec import Config

#: sun_path is 108 bytes on Linux, one of them the terminating NUL
MAX_SOCKET_PATH = 107


def check(path: Path) -> str:
    """A summary of a good config; ConfigProblems listing every problem otherwise."""
    source = str(path)
    config, problems = validate(read_config_file(path), source)
    if config is not None:
        problems += run_problems(config) + advisory_problems(config)
    if problems:
        raise ConfigProblems(source, problems)
    assert config is not None
    notes = [f"{path}: OK", f"  {len(config.program)} managed, {len(config.watch)} watched programs",
             f"  state directory {config.state_dir}"]
    for w in warnings(config):
        notes.append(f"  warning: {w}")
    return "\n".join(notes)


def run_problems(config: Config) -> list[tuple[str, str]]:
    """(key, problem) for everything ``procbot run`` would trip over after start-up began."""
    from bot.schedule_check import digest_problems

    out: list[tuple[str, str]] = []
    state_problem = _directory_problem(config.state_dir) or state_dir_problem(config.state_dir)
    if state_problem:  # the rule `run` applies lives in bot/state_dir.py
        out.append((STATE_DIR_KEY, state_problem))
    sock = os.fsencode(socket_path(config.state_dir))
    if len(sock) > MAX_SOCKET_PATH:
        out.append(("procbot.state_dir", f"the control socket {socket_path(config.state_dir)} would be "
                    f"{len(sock)} bytes long; a UNIX socket path is at most {MAX_SOCKET_PATH}: "
                    "choose a shorter state_dir"))
    if config.procbot.log_dir is not None:
        log_problem = _directory_problem(config.log_dir)
        if log_problem:
            out.append(("procbot.log_dir", log_problem))
    out += config_problems(config)  # credential files, destinations that name nothing
    out += cluster_problems(config)
    out += digest_problems(config)
    out += remote_problems(config.program)  # a health check reaches off this host only when allowed
    return out


def _directory_problem(path: Path) -> str | None:
    """Why procbot could not use or create directory ``path``, or None."""
    try:
        if path.exists():
            return None if path.is_dir() else f"{path} exists and is not a directory"
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    return f"{path} cannot be created: {parent} is not a directory"
                if not os.access(parent, os.W_OK | os.X_OK):
                    return f"{path} cannot be created: {parent} is not writable"
                return None
    except OSError as e:
        return f"{path}: {e.strerror}"
    return None


def advisory_problems(config: Config) -> list[tuple[str, str]]:
    """Problems ``run`` survives (the program fails to start and is alerted) but a config should not have."""
    out: list[tuple[str, str]] = []
    for p in config.program:
        exe = p.command[0]
        if "/" in exe:
            resolved = config.resolve(p.cwd).joinpath(exe) if p.cwd and not exe.startswith("/") else Path(exe)
            if not resolved.exists():
                out.append((f"program[{p.name}].command", f"executable {exe!r} does not exist"))
        elif shutil.which(exe) is None:
            out.append((f"program[{p.name}].command", f"executable {exe!r} not found on PATH"))
        if p.cwd and not config.resolve(p.cwd).is_dir():
            out.append((f"program[{p.name}].cwd", f"directory {config.resolve(p.cwd)} does not exist"))
    return out


def semantic_problems(config: Config) -> list[tuple[str, str]]:
    """Every problem pydantic cannot see: they depend on the machine or on other sections."""
    return run_problems(config) + advisory_problems(config)


def warnings(config: Config) -> list[str]:
    return unready_destinations(config, os.environ)
