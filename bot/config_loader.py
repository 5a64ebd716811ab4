"""Reads the TOML file into a validated :class:`Config`.

Errors name the file, the key (``program[web].restart``) and what is wrong,
so an operator can fix it without reading a traceback.

Checking needs pydantic (``core.spec.validation``), which costs the daemon about 20 MiB
and 0.3 s of start-up that it would keep for ever. So the daemon checks in a short-lived
child (:func:`start_checking`), started first thing so it runs while the daemon imports
the rest, and rebuilds the result from its JSON
(``core.spec.build``). ``check-config`` and the tests check in process (:func:`load_config`):
the same function either way, so ``run`` refuses exactly what ``check-config`` refuses.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.errors import ConfigError, ConfigProblems
from core.spec import Config

ENV_VAR = "PROCBOT_CONFIG"
DEFAULT_PATHS = ("procbot.toml", "/etc/procbot/procbot.toml")


def find_config(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    for p in DEFAULT_PATHS:
        if Path(p).exists():
            return Path(p)
    raise ConfigError("procbot.toml", "", f"no configuration file: pass -c FILE or set {ENV_VAR}")


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's TOML as a dict; ConfigError when it cannot be read or parsed."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file does not exist") from None
    except OSError as e:
        raise ConfigError(str(path), "", f"cannot read: {e.strerror}") from None
    except ValueError as e:  # a path holding NUL
        raise ConfigError(str(path), "", f"cannot read: {e}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), "", "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), "", f"not valid TOML: {e}") from None


def load_config(path: Path) -> Config:
    """The validated config, refused (every problem listed) when ``run`` could not use it.

    Used by ``run``, reload and ``check-config`` alike, so whatever the daemon would trip
    over later (a state_dir that is a file, an unreadable token file, a cron that never
    fires) is refused here first, before anything starts.
    """
    from bot.config_check import run_problems  # it needs a Config; this module builds one

    source = str(path)
    config, problems = validate(read_config_file(path), source)
    if config is not None:
        problems += run_problems(config)
    if problems:
        raise ConfigProblems(source, problems)
    assert config is not None
    return config


def config_from_dict(data: dict[str, Any], source: str) -> Config:
    config, problems = validate(data, source)
    if problems:
        raise ConfigProblems(source, problems)
    assert config is not None
    return config


MAX_ROUNDS = 50


class Checking:
    """A config file's schema being checked in a child process (see :func:`start_checking`)."""

    def __init__(self, path: Path, answer: Callable[[], tuple[bytes, str]]) -> None:
        self.path = path
        self._answer = answer

    def result(self) -> Config:
        """What :func:`load_config` returns or raises (blocking: call it in a thread once the loop runs).

        The child checks the schema (pydantic); the machine-dependent checks (``run_problems``) run
        here, with modules the daemon loads anyway, and in the same order as in :func:`load_config`.
        """
        import json

        from bot.config_check import run_problems
        from core.spec.build import config_from_checked

        out, why = self._answer()
        try:
            answer = json.loads(out)
        except ValueError:
            raise ConfigError(str(self.path), "", f"could not be checked: {why}") from None
        problems = [(k, p) for k, p in answer["problems"]]
        config = config_from_checked(answer["config"]) if answer["config"] is not None else None
        if config is not None:
            problems += run_problems(config)
        if problems:
            raise ConfigProblems(answer["source"], problems)
        assert config is not None
        return config


def schema_answer(path: Path) -> bytes:
    """The child's answer: ``validate`` of the file, as JSON (the config as plain data, or None)."""
    import dataclasses
    import json

    source = os.fsdecode(path)
    try:
        config, problems = validate(read_config_file(path), source)
    except ConfigError as e:
        config, problems = None, [(e.key, e.problem)]
    return json.dumps({"config": dataclasses.asdict(config) if config is not None else None,
                       "problems": problems, "source": source}).encode()


def start_checking(path: Path, *, fork: bool = False) -> Checking:
    """Start checking ``path`` in a child; :meth:`Checking.result` waits for the answer.

    ``fork`` (start-up, when the process has one thread, else as without): the child is a copy of this
    process, so it skips the interpreter's start and the imports already done (~0.15 s of the
    critical path). Otherwise (reload, with the loop's threads running) a fresh interpreter.
    """
    import threading

    if fork and threading.active_count() == 1:  # with other threads a fork could copy a held lock
        return Checking(path, _forked(path))
    import subprocess
    import sys

    # procbot uses no pydantic plugin: skip the scan of every installed package's entry points
    env = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": "__all__",
           # the child finds exactly the modules this process runs (and -P: never a `bot` in the cwd)
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.Popen([sys.executable, "-P", "-m", "bot.config_child", os.fsdecode(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                             close_fds=True)

    def answer() -> tuple[bytes, str]:
        out, err = child.communicate()
        last = err.decode(errors="replace").strip().splitlines()[-1:]
        return out, last[0] if last else f"the checker exited with {child.returncode}"
    return Checking(path, answer)


def _forked(path: Path) -> Callable[[], tuple[bytes, str]]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, then leave without running the parent's exit handlers
        status = 1
        try:
            os.close(read_end)
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
            data = schema_answer(path)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)

    def answer() -> tuple[bytes, str]:
        with os.fdopen(read_end, "rb") as f:
            out = f.read()
        _, status = os.waitpid(pid, 0)
        return out, f"the checker exited with status {os.waitstatus_to_exitcode(status)}"
    return answer


def load_config_isolated(path: Path) -> Config:
    """:func:`load_config` without loading pydantic here: for the daemon (start-up and reload)."""
    return start_checking(path).result()


def validate(data: dict[str, Any], source: str) -> tuple[Config | None, list[tuple[str, str]]]:
    """(config, problems): every schema problem in the file, not only the first.

    After each failed validation the offending keys (or list entries) are dropped and the
    rest validated again, so later sections are still checked; the config returned, if any,
    is the remainder and is only used to look for more problems.
    """
    from core.spec.order import order_problems
    from core.spec.validation import ValidationError, validate_config

    if "source" in data:
        return None, [("source", "unknown key")]
    work = copy.deepcopy(data)
    problems = _duplicate_names(work)
    for _ in range(MAX_ROUNDS):
        try:
            config = validate_config({**work, "source": source})
        except ValidationError as e:
            errors = e.errors()
            for err in errors:
                problem = (_key(err["loc"], work), _problem(err))
                if problem not in problems and not _is_duplicate_error(problem, problems):
                    problems.append(problem)
            # one removal per round: a removed list entry would shift the indexes of the other errors
            if not any(_drop(work, err["loc"]) for err in errors):
                return None, problems
            continue
        # across programs (depends_on names, cycles): a program dropped above for its own error still counts
        # as existing, so its dependents are not also reported
        return config, problems + order_problems(config, _declared_names(data))
    return None, problems


def _declared_names(data: dict[str, Any]) -> set[str]:
    return {e["name"] for section in ("program", "watch") if isinstance(data.get(section), list)
            for e in data[section] if isinstance(e, dict) and isinstance(e.get("name"), str)}


def _duplicate_names(data: dict[str, Any]) -> list[tuple[str, str]]:
    """A name used twice, reported (and dropped from ``data``) at its second use.

    Program and watch names share one namespace: both are addressed as ``NAME``.
    """
    out: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for section in ("program", "watch"):
        entries = data.get(section)
        if not isinstance(entries, list):
            continue
        keep = []
        for entry in entries:
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name in seen:
                out.append((f"{section}[{name}].name", f"program name {name!r} is used twice "
                                                       f"(first by {seen[name]}[{name}])"))
                continue
            if isinstance(name, str):
                seen[name] = section
            keep.append(entry)
        data[section] = keep
    return out


def _is_duplicate_error(problem: tuple[str, str], found: list[tuple[str, str]]) -> bool:
    """The model's own "used twice" error (no key) repeats what _duplicate_names said with a key."""
    return problem[0] == "" and "used twice" in problem[1] and any("used twice" in p for _, p in found)


def _drop(data: Any, loc: tuple[int | str, ...]) -> bool:
    """Remove what ``loc`` points at; False when nothing could go.

    Inside a list (``program[web].restart``) the whole entry goes, so a half-removed entry
    cannot raise follow-up errors ("name is missing"); elsewhere (``procbot.scan_interval``)
    only the key goes and its default stands in.
    """
    path = [p for p in loc if isinstance(p, int) or not str(p).startswith(("function-", "list[", "dict["))]
    node = data
    last: tuple[Any, int | str] | None = None
    for p in path:
        if isinstance(node, list) and isinstance(p, int) and p < len(node):
            del node[p]
            return True
        if not (isinstance(node, dict) and isinstance(p, str) and p in node):
            break
        last = (node, p)
        node = node[p]
    if last is None:
        return False
    del last[0][last[1]]
    return True


def _key(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """``('program', 1, 'restart')`` -> ``program[web].restart`` using the entry's name when it has one."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            name = None
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("name")
            parts[-1] += f"[{name}]" if isinstance(name, str) else f"[{item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            if item.startswith(("function-after", "function-before", "list[")):
                continue
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def _problem(err: Any) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")
