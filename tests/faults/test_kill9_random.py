"""kill -9 of a real ``procbot run`` at random points: never two copies of a program, never none.

Each trial starts an action (start-up, ``restart web``, ``restart all``, ``reload``,
a crash and its restart), kills the daemon with SIGKILL at a random moment
inside the action's window, starts a new daemon and checks: exactly one live
process per autostart program, and every one of them is the pid ``status``
shows. The RNG is seeded (PROCBOT_FAULT_SEED to replay); PROCBOT_FAULT_TRIALS
sets the trial count (``make faults-soak`` runs many more).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot.control_client import DaemonUnreachable, send
from tests.daemon_harness import Daemon
from tests.faults.identity_support import MODES, write_daemon_config
from tests.helpers import kill_tagged

# many small programs (coreutils sleep, a run-unique duration as the tag): start-up spawns them all
# before the first row commits, which is the window the old code duplicated programs in
NAMES = ("web", *(f"p{i:02d}" for i in range(1, 16)))
ACTIONS = ("startup", "restart-one", "restart-all", "reload", "crash")
TRIALS = {"cgroup": int(os.environ.get("PROCBOT_FAULT_TRIALS", "8")),
          "tags": max(1, int(os.environ.get("PROCBOT_FAULT_TRIALS", "8")) // 2)}
SEED = int(os.environ.get("PROCBOT_FAULT_SEED", "7"))


def _wait(predicate, timeout: float = 15.0, interval: float = 0.005) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def _argv(tag: str, name: str) -> list[str]:
    return ["sleep", f"36000.{tag}{NAMES.index(name):02d}1"]


def _live(tag: str) -> dict[str, list[int]]:
    """Live (non-zombie) processes of each program, in one walk of /proc."""
    want = {" ".join(_argv(tag, n)).encode(): n for n in NAMES}
    out: dict[str, list[int]] = {n: [] for n in NAMES}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                name = want.get(f.read().replace(b"\0", b" ").strip())
            if name is None:
                continue
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        out[name].append(int(pid))
    return out


def _config(tmp: Path, tag: str, mode: str, generation: int) -> Path:
    # the generation goes into the last program's environment: a reload restarts it
    cfg = write_daemon_config(tmp, {n: _argv(tag, n) for n in NAMES}, mode)
    cfg.write_text(cfg.read_text() + f'env = {{ GENERATION = "{generation}" }}\n')
    return cfg


def _socket(cfg: Path) -> Path:
    return cfg.parent / "state" / "procbot.sock"


def _status(cfg: Path) -> dict[str, Any] | None:
    """Programs by name from the daemon's control socket (in-process: no CLI start-up per poll)."""
    try:
        reply = send(_socket(cfg), "status", timeout=10)
    except (DaemonUnreachable, OSError, ValueError):
        return None
    return {p["name"]: p for p in reply["data"]["programs"]}


def _ready(cfg: Path, daemon: Daemon, timeout: float = 30) -> None:
    def up() -> bool:
        assert daemon.proc.poll() is None, daemon.output()
        st = _status(cfg)
        return st is not None and all(st[n]["pid"] for n in NAMES)

    assert _wait(up, timeout=timeout, interval=0.05), daemon.output()


def _in_background(cfg: Path, command: str) -> threading.Thread:
    """Send a command without waiting for its answer (the daemon may die before it answers)."""
    def go() -> None:
        try:
            send(_socket(cfg), command, timeout=30)
        except (DaemonUnreachable, OSError, ValueError):
            pass

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def _changed(tag: str, before: dict[str, list[int]]) -> bool:
    now = _live(tag)
    return any(set(now[n]) - set(before[n]) for n in NAMES)


def _check(cfg: Path, tag: str, trial: str) -> None:
    """Exactly one live process per program, each the one status shows (duplicates may take a moment)."""
    def settled() -> bool:
        live = _live(tag)
        return all(len(p) == 1 for p in live.values())

    ok = _wait(settled, timeout=10, interval=0.05)
    live = _live(tag)
    assert ok, f"{trial}: live processes per program {live}"
    status = _status(cfg)
    assert status is not None, f"{trial}: no status"
    shown = {n: status[n]["pid"] for n in NAMES}
    assert shown == {n: live[n][0] for n in NAMES}, f"{trial}: status {shown}, live {live}"


@pytest.mark.parametrize("mode", MODES)
def test_kill_9_at_random_points_leaves_exactly_one_known_copy_of_each_program(tmp_path, mode):
    mode_id = "cgroup" if mode == "auto" else "tags"
    rng = random.Random(f"{SEED}-{mode_id}")
    tag = f"{random.SystemRandom().randrange(10**8):08d}"  # run-unique: a leaked process is never counted
    generation = 0
    cfg = _config(tmp_path, tag, mode, generation)
    daemon = Daemon(cfg)
    helpers: list[threading.Thread] = []
    try:
        _ready(cfg, daemon)
        for i in range(TRIALS[mode_id]):
            action = rng.choice(ACTIONS)
            delay = rng.uniform(0, 0.01)
            trial = f"trial {i} ({action}, +{delay * 1000:.0f} ms, seed {SEED})"
            before = _live(tag)
            if action == "startup":
                daemon.kill9()
                for pids in before.values():  # a fresh start: nothing left from before
                    for p in pids:
                        os.kill(p, signal.SIGKILL)
                _wait(lambda: not any(_live(tag).values()))
                daemon = Daemon(cfg)
                _wait(lambda: any(_live(tag).values()))  # spawning has begun
            elif action == "crash":
                os.kill(rng.choice([p for ps in before.values() for p in ps]), signal.SIGKILL)
                _wait(lambda b=before: _changed(tag, b), timeout=5)
            else:
                if action == "reload":
                    generation += 1
                    cfg = _config(tmp_path, tag, mode, generation)
                command = {"restart-one": "restart web", "restart-all": "restart all", "reload": "reload"}[action]
                helpers.append(_in_background(cfg, command))
                _wait(lambda b=before: _changed(tag, b), timeout=10)
            time.sleep(delay)
            daemon.kill9()
            daemon = Daemon(cfg)
            _ready(cfg, daemon)
            _check(cfg, tag, trial)
        reply = send(_socket(cfg), "stop all")
        assert reply["ok"], reply
        assert not any(_live(tag).values())
        assert daemon.stop() == 0
    finally:
        for h in helpers:
            h.join(timeout=30)
        if daemon.proc.poll() is None:
            daemon.kill9()
        kill_tagged(f"36000.{tag}")
