"""Instances: one ``[[program]]`` with ``instances = N`` is run as N programs, ``web:0`` ... ``web:N-1``.

Like supervisord's ``numprocs`` and PM2's ``-i``. Each instance is a program of its own everywhere
below the config (runner, state, log file ``web:2.log``, cgroup, run rows, environment tag); the
family name ``web`` stays a target that stands for all of them, like a group. ``:`` is the
separator because a configured name can never hold it (``NAME_PATTERN``), so an instance name
never collides with a program's, a log file's or a group's.

``{instance}`` (the instance number, ``0`` for a program without instances) is replaced in the
command's arguments, the values of ``env``, ``cwd`` and the health check's target (``http``, ``tcp``,
``command``: each instance answers on its own port), and nowhere else. Any other ``{...}`` is
left as written: argv often carries JSON, format strings or ``${VAR}`` templates meant for the
program itself, and refusing them would break configs that work today.

This module imports nothing of procbot's, so the command grammar can share its rules cheaply.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.spec.programs import ProgramSpec

SEPARATOR = ":"
PLACEHOLDER = "{instance}"
#: the most instances one program may have (web:0 ... web:999)
MAX_INSTANCES = 1000


def instance_name(name: str, index: int) -> str:
    return f"{name}{SEPARATOR}{index}"


def family(name: str) -> str:
    """The configured name an instance belongs to (``web:2`` -> ``web``); a plain name is its own."""
    return name.partition(SEPARATOR)[0]


def is_instance(name: str) -> bool:
    return SEPARATOR in name


def _fill(text: str, index: int) -> str:
    return text.replace(PLACEHOLDER, str(index)) if PLACEHOLDER in text else text


def expand(spec: ProgramSpec) -> list[ProgramSpec]:
    """The programs one ``[[program]]`` stands for: itself (``instances = 1``) or its instances.

    A spec without ``{instance}`` and without instances is returned as it is (no copy: 1,000
    programs are expanded at every start and reload).
    """
    if spec.instances == 1 and not _mentions_placeholder(spec):
        return [spec]
    return [_instance(spec, i, spec.name if spec.instances == 1 else instance_name(spec.name, i))
            for i in range(spec.instances)]


def _mentions_placeholder(spec: ProgramSpec) -> bool:
    h = spec.health
    return (any(PLACEHOLDER in a for a in spec.command) or any(PLACEHOLDER in v for v in spec.env.values())
            or (spec.cwd is not None and PLACEHOLDER in spec.cwd)
            or (h is not None and any(PLACEHOLDER in t for t in (h.http or "", h.tcp or "", *(h.command or ())))))


def _instance(spec: ProgramSpec, index: int, name: str) -> ProgramSpec:
    h = spec.health
    if h is not None:  # each instance answers on its own port: "http://127.0.0.1:900{instance}/healthz"
        h = dataclasses.replace(
            h, http=_fill(h.http, index) if h.http is not None else None,
            tcp=_fill(h.tcp, index) if h.tcp is not None else None,
            command=[_fill(a, index) for a in h.command] if h.command is not None else None)
    return dataclasses.replace(
        spec, name=name, command=[_fill(a, index) for a in spec.command],
        env={k: _fill(v, index) for k, v in spec.env.items()},
        cwd=_fill(spec.cwd, index) if spec.cwd is not None else None, health=h)


def expand_all(specs: list[ProgramSpec]) -> list[ProgramSpec]:
    return [inst for spec in specs for inst in expand(spec)]


def name_matches(pattern: str, program: str) -> bool:
    """Whether a program pattern (a name or glob in a grant, route or silence) covers ``program``.

    A pattern naming the family (``web``, ``web-*``) covers every instance of it (``web:2``), so a
    grant, route or silence written before ``instances`` was raised keeps covering the program.
    """
    if fnmatch.fnmatchcase(program, pattern):
        return True
    return is_instance(program) and fnmatch.fnmatchcase(family(program), pattern)
