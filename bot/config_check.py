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
from core.errors import ConfigProblems, SpawnSettingError
from core.health.targets import remote_problems
from core.process import spawn_args
from core.process.env_files import env_files, read_env_file
from core.spec import Config, ProgramSpec
from core.spec.instances import family

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
    notes = [f"{path}: OK", f"  {len(config.managed)} managed, {len(config.watch)} watched programs",
             f"  state directory {config.state_dir}"]
    for w in warnings(config):
        notes.append(f"  warning: {w}")
    return "\n".join(notes)


def run_problems(config: Config) -> list[tuple[str, str]]:
    """(key, problem) for everything ``procbot run`` would trip over after start-up began."""
    from bot.schedule_check import digest_problems, restart_cron_problems

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
    out += restart_cron_problems(config)
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
    for p in config.managed:  # each instance: its cwd may hold {instance}
        key = f"program[{family(p.name)}]"  # the [[program]] as written, not `program[web:2]`
        exe = p.command[0]
        if "/" in exe:
            resolved = config.resolve(p.cwd).joinpath(exe) if p.cwd and not exe.startswith("/") else Path(exe)
            if not resolved.exists():
                out.append((f"{key}.command", f"executable {exe!r} does not exist"))
        elif shutil.which(exe) is None:
            out.append((f"{key}.command", f"executable {exe!r} not found on PATH"))
        if p.cwd and not config.resolve(p.cwd).is_dir():
            out.append((f"{key}.cwd", f"directory {config.resolve(p.cwd)} does not exist"))
        out += spawn_problems(config, p)
    return list(dict.fromkeys(out))  # four instances with one missing executable: said once


def spawn_problems(config: Config, p: ProgramSpec) -> list[tuple[str, str]]:
    """What a start of ``p`` would refuse (user, groups, limits, env files), and a cwd or executable its user
    may not reach. The same functions the spawn calls decide (core.process.spawn_args), so a start and this
    check cannot disagree. The log folder is not checked for the user: procbot (its log daemon) writes it.
    """
    key = f"program[{family(p.name)}]"  # an instance's problem is its [[program]]'s
    out: list[tuple[str, str]] = []
    creds: spawn_args.Credentials | None = None
    try:
        creds = spawn_args.credentials(p)
    except SpawnSettingError as e:
        out.append((f"{key}.{e.key}", e.message))
    try:
        spawn_args.limits(p)
    except SpawnSettingError as e:
        out.append((f"{key}.{e.key}", e.message))
    for f in env_files(p.env_file, config.base_dir):
        try:
            read_env_file(f)
        except SpawnSettingError as e:
            out.append((f"{key}.env_file", e.message))
    if creds is None or creds.uid is None:
        return out
    who = f"user {p.user!r}"
    cwd = config.resolve(p.cwd) if p.cwd else None
    if cwd is not None and cwd.is_dir() and (closed := spawn_args.closed_to(cwd, creds)) is not None:
        out.append((f"{key}.cwd", f"{who} cannot enter {cwd}: {closed} is closed to it"))
    exe = _executable(config, p)
    if exe is not None and (closed := spawn_args.closed_to(exe, creds)) is not None:
        out.append((f"{key}.command", f"{who} cannot run {exe}: {closed} is closed to it"))
    return out


def _executable(config: Config, p: ProgramSpec) -> Path | None:
    exe = p.command[0]
    if "/" not in exe:
        found = shutil.which(exe)
        return Path(found) if found else None
    path = config.resolve(p.cwd).joinpath(exe) if p.cwd and not exe.startswith("/") else Path(exe)
    return path if path.exists() else None


def semantic_problems(config: Config) -> list[tuple[str, str]]:
    """Every problem pydantic cannot see: they depend on the machine or on other sections."""
    return run_problems(config) + advisory_problems(config)


def warnings(config: Config) -> list[str]:
    return unready_destinations(config, os.environ)
