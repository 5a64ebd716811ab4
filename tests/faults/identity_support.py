"""Shared pieces of the identity and kill -9 fault tests: both identity modes, configs, process counts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from core.process import cgroups
from core.process import tags as process_tags

PY = sys.executable


def cgroup_writable() -> bool:
    """Whether this machine gives procbot a writable cgroup v2 (else cgroup mode falls back to tags)."""
    probe = cgroups.locate(process_tags.home_id(Path(f"/tmp/procbot-probe-{os.getpid()}")))
    if probe is None:
        return False
    probe.remove_base()
    return True


#: both identity modes; the cgroup one skipped where the machine cannot give procbot a cgroup
MODES = [
    pytest.param("auto", id="cgroup", marks=pytest.mark.skipif(
        not cgroup_writable(), reason="no writable cgroup v2 here: cgroup mode falls back to tags")),
    pytest.param("off", id="tags"),
]


def tagged_program(tag: str, body: str = "") -> list[str]:
    """A python program whose every process (forks included) has ``tag`` in its command line."""
    return [PY, "-c", f"# {tag}\nimport os, sys, time\n{body}\nwhile True: time.sleep(3600)"]


def toml_argv(argv: list[str]) -> str:
    return "[" + ", ".join('"' + a.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
                           for a in argv) + "]"


def write_daemon_config(tmp: Path, programs: dict[str, list[str]], mode: str, extra: str = "",
                        program_extra: str = "") -> Path:
    """A config for a real ``procbot run``: one [[program]] per name, identity mode ``mode``."""
    cfg = tmp / "procbot.toml"
    body = (f'[procbot]\nstate_dir = "state"\nscan_interval = 0.5\nhost_name = "testhost"\n'
            f'cgroup = "{mode}"\n{extra}\n')
    for name, argv in programs.items():
        body += (f'\n[[program]]\nname = "{name}"\ncommand = {toml_argv(argv)}\nmin_uptime = 0\n'
                 f'stop_timeout = 3\n{program_extra}')
    cfg.write_text(body)
    return cfg
