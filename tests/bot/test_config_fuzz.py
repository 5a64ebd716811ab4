"""Mutated configs (seeded, bounded): check-config never tracebacks, and whatever it accepts runs.

Starts from the shipped ``config/demo.toml`` and ``config/procbot.example.toml`` made runnable
in a temporary directory (programs become tagged sleepers), mutates keys, types and values
(NULs, huge numbers, inf/nan, unicode, paths that are files or cannot exist, crons that never
fire), and asserts:

- ``check-config`` exits 0, or 2 with every line naming the file (and the key, unless the file
  itself is unreadable or not TOML); never an exception;
- a sample of the accepted configs starts a real ``procbot run`` that answers ``status`` and
  stops with exit 0, with no traceback in its output.
"""

from __future__ import annotations

import copy
import math
import os
import random
import sys
import tomllib
from pathlib import Path
from typing import Any

from bot.cli import main as cli_main
from tests.daemon_harness import Daemon, cli
from tests.helpers import REPO, kill_tagged, unique_tag

ROOT = REPO
PY = sys.executable
SEED = 8
TRIALS = 300
#: accepted configs started and stopped with a real daemon; `make faults-soak` runs every one (0 = all)
RUN_SAMPLE = int(os.environ.get("PROCBOT_FUZZ_RUN", "16")) or TRIALS
FILE_LEVEL = ("not valid TOML", "not UTF-8 text", "file does not exist", "cannot read")


# -- a small TOML writer: the cases need values (inf, nan, NUL, odd types) a config may hold -------------

def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        out = []
        for ch in v:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 32 or ord(ch) == 127:
                out.append(f"\\u{ord(ch):04x}")
            elif 0xD800 <= ord(ch) <= 0xDFFF:
                out.append("?")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def _key(k: str) -> str:
    return k if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k) else _value(k)


def to_toml(data: dict[str, Any]) -> str:
    lines: list[str] = []
    for k, v in data.items():
        if not isinstance(v, dict | list) or (isinstance(v, list) and not all(isinstance(x, dict) for x in v)) \
                or (isinstance(v, list) and not v):
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"[{_key(k)}]")
            lines += [f"{_key(sk)} = {_value(sv)}" for sk, sv in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for entry in v:
                lines.append(f"[[{_key(k)}]]")
                lines += [f"{_key(sk)} = {_value(sv)}" for sk, sv in entry.items()]
    return "\n".join(lines) + "\n"


# -- seeds and mutations --------------------------------------------------------------------------------

def _seeds(tag: str) -> list[dict[str, Any]]:
    out = []
    for name in ("demo.toml", "procbot.example.toml"):
        data = tomllib.loads((ROOT / "config" / name).read_text())
        data["procbot"]["state_dir"] = "state"
        data["procbot"]["scan_interval"] = 0.5
        for p in data.get("program", []):
            p["command"] = [PY, "-c", f"import time; time.sleep(60)  # {tag}"]
            p.pop("cwd", None)
            p.pop("env_file", None)  # the example's files are not on this machine
            p.pop("user", None)  # this venv's interpreter may be closed to the example's user
        out.append(data)
    return out


WEIRD = ["", " ", "x", "\x00", "a\x00b", "日本語", "é", "\u202e", "a" * 300, "~nosuchuser/x", "../..", "*", "all",
         "group:x", "@host", "-1", "0", "1e400", "SIGFOO", "sigterm", "0 0 31 2 *", "61 * * * *", "@reboot",
         "0 0 29 2 1", "*/0 * * * *", "Mars/Base", "Europe/Berlin", "slack:", "discord:C1", "console"]
NUMBERS = [0, 1, -1, 2**31, 2**63, 10**30, -10**30, 0.0, -0.0, 1e-9, 1e308, -1e308, math.inf, -math.inf, math.nan,
           0.5, 3600, 86400.0, 10**6]
PATHS = ["a-file", "a-file/below", "a-dir", "shared", "fresh/dir", "/dev/null", "st\x00x", "~nosuchuser/x",
         "d" * 120, "tok.toml", "bin.toml", "nul.toml", "ünï/cødé"]


def _anything(rng: random.Random) -> Any:
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice(WEIRD)
    if kind == 1:
        return rng.choice(NUMBERS)
    if kind == 2:
        return rng.choice([True, False])
    if kind == 3:
        return [rng.choice(WEIRD) for _ in range(rng.randrange(3))]
    if kind == 4:
        return {rng.choice(WEIRD) or "k": rng.choice(WEIRD)}
    if kind == 5:
        return rng.choice(PATHS)
    return [] if rng.random() < 0.5 else {}


PATH_KEYS = {"state_dir", "log_dir", "cwd", "pidfile", "token_file"}


def _tables(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every table in the config (sections, entries of arrays of tables, inline tables)."""
    out = [data]
    for v in data.values():
        if isinstance(v, dict):
            out += _tables(v)
        elif isinstance(v, list):
            out += [t for x in v if isinstance(x, dict) for t in _tables(x)]
    return out


def mutate(base: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for _ in range(rng.randint(1, 3)):
        table = rng.choice(_tables(data))
        keys = [k for k in table if k != "command"]  # the programs stay tagged sleepers: nothing escapes
        op = rng.randrange(6)
        if op == 0 and keys:
            del table[rng.choice(keys)]
        elif op == 1 and keys:
            k = rng.choice(keys)
            table[k] = rng.choice(PATHS) if k in PATH_KEYS else _anything(rng)
        elif op == 2:
            table[rng.choice(["bogus", "restrat", "ñame", "source", "state-dir"])] = _anything(rng)
        elif op == 3 and isinstance(data.get("procbot"), dict):
            data["procbot"][rng.choice(["state_dir", "log_dir"])] = rng.choice(PATHS)
        elif op == 4 and data.get("program"):
            entry = rng.choice(data["program"])
            entry["name"] = rng.choice(["all", "web", "steady", "a b", "ü", "x" * 70, "web.1", "-x", "ok"])
        elif op == 5:
            digest = {"name": "fz", "cron": rng.choice([*WEIRD[18:25], "*/5 * * * *"]),
                      "timezone": rng.choice(["UTC", "Mars/Base", "Europe/Berlin"]), "to": ["console"]}
            if rng.random() < 0.5:
                digest["grace"] = rng.choice(NUMBERS)
            if isinstance(data.get("digest"), list):
                data["digest"].append(digest)
            else:  # an earlier mutation made it something else: this one puts a list back
                data["digest"] = [digest]
    return data


def _prepare(tmp: Path) -> None:
    (tmp / "a-file").write_text("not a directory\n")
    (tmp / "a-dir").mkdir()
    (tmp / "shared").mkdir()
    os.chmod(tmp / "shared", 0o777)
    (tmp / "tok.toml").write_text('token = "abc"\nbot_token = "xoxb-1"\n')
    (tmp / "bin.toml").write_bytes(b"\x00\xff\xfe")
    (tmp / "nul.toml").write_text('token = "a\\u0000b"\n')


def _check(cfg: Path, capsys: Any) -> tuple[int, str]:
    code = cli_main(["check-config", "-c", str(cfg)])
    return code, capsys.readouterr().err


def test_mutated_configs_never_traceback_and_every_accepted_one_runs(tmp_path, capsys):
    tag = unique_tag("cfgfuzz")
    rng = random.Random(SEED)
    seeds = _seeds(tag)
    accepted: list[Path] = []
    refused = 0
    for trial in range(TRIALS):
        work = tmp_path / f"t{trial:03d}"
        work.mkdir()
        _prepare(work)
        cfg = work / "procbot.toml"
        text = to_toml(mutate(rng.choice(seeds), rng))
        if rng.random() < 0.05:  # a few byte-level corruptions: TOML and UTF-8 errors
            raw = bytearray(text.encode())
            for _ in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            cfg.write_bytes(bytes(raw))
        else:
            cfg.write_text(text)
        try:
            code, err = _check(cfg, capsys)
        except BaseException as e:  # any escape is the bug this test looks for
            raise AssertionError(f"check-config raised {e!r} on:\n{cfg.read_bytes()!r}") from e
        assert code in (0, 2), (code, err, text)
        if code == 0:
            accepted.append(cfg)
            continue
        refused += 1
        for line in err.strip().splitlines():
            assert str(cfg) in line, (line, text)
            named_key = line.split(f"{cfg}: ", 1)[1].split(": ", 1)
            assert len(named_key) == 2 or any(f in line for f in FILE_LEVEL), (line, text)
    with capsys.disabled():
        print(f"\nconfig fuzz: {TRIALS} configs, {refused} refused with a key, {len(accepted)} accepted; "
              f"running {min(RUN_SAMPLE, len(accepted))} of them")
    assert refused and accepted  # the mutations reach both sides
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    try:
        for cfg in rng.sample(accepted, min(RUN_SAMPLE, len(accepted))):
            _run_and_stop(cfg, env)
    finally:
        kill_tagged(tag)


def _run_and_stop(cfg: Path, env: dict[str, str]) -> None:
    daemon = Daemon(cfg, env=env)
    try:
        daemon.wait_ready(0)
        status = cli(cfg, "status", "--json", env=env)
        assert status.returncode in (0, 1), status.stderr
    finally:
        code = daemon.stop()
    out = daemon.output()
    assert "Traceback" not in out, f"{cfg.read_text()}\n{out}"
    assert code == 0, f"procbot run exited {code}:\n{cfg.read_text()}\n{out}"
