"""``limits``: the child's resource limits, read back from ``/proc/<pid>/limits`` of a real process."""

from __future__ import annotations

import sys

from core.actor import Actor, CommandContext
from core.spec.limits import LIMITS
from tests.helpers import wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
SLEEP = ["/bin/sleep", "3600"]
#: /proc/<pid>/limits names a limit by its description; these are the kernel's (fs/proc/base.c)
PROC_NAMES = {"nofile": "Max open files", "nproc": "Max processes", "core": "Max core file size",
              "as": "Max address space", "fsize": "Max file size", "memlock": "Max locked memory",
              "stack": "Max stack size", "cpu": "Max cpu time"}


def proc_limits(pid: int) -> dict[str, tuple[str, str]]:
    """limit key -> (soft, hard) as /proc shows them ("unlimited" or a number)."""
    out = {}
    with open(f"/proc/{pid}/limits") as f:
        text = f.read()
    for key, label in PROC_NAMES.items():
        line = next(ln for ln in text.splitlines() if ln.startswith(label))
        soft, hard = line[len(label):].split()[:2]
        out[key] = (soft, hard)
    return out


async def test_limits_are_visible_in_the_childs_proc_limits(make_app):
    limits = {"nofile": 4096, "nproc": [2048, 4096], "core": 0, "as": "2GiB", "fsize": "512MiB",
              "memlock": "64KiB", "stack": ["8MiB", "unlimited"], "cpu": 3600}
    app = await make_app([{"name": "web", "command": SLEEP, "limits": limits}])
    await wait_for(lambda: app.supervisor.state("web").pid is not None)
    assert proc_limits(app.supervisor.state("web").pid) == {
        "nofile": ("4096", "4096"), "nproc": ("2048", "4096"), "core": ("0", "0"),
        "as": (str(2 << 30), str(2 << 30)), "fsize": (str(512 << 20), str(512 << 20)),
        "memlock": (str(64 << 10), str(64 << 10)), "stack": (str(8 << 20), "unlimited"), "cpu": ("3600", "3600"),
    }


async def test_limits_apply_again_after_a_crash_restart(make_app, tmp_path):
    crash_once = [sys.executable, "-c",
                  "import os, sys, time\n"
                  f"flag = {str(tmp_path / 'crashed')!r}\n"
                  "if not os.path.exists(flag):\n    open(flag, 'w').close(); sys.exit(3)\n"
                  "time.sleep(3600)\n"]
    app = await make_app([{"name": "web", "command": crash_once, "limits": {"nofile": 512},
                           "backoff": {"initial": 0.05}, "min_uptime": 0}])
    st = app.supervisor.state("web")
    await wait_for(lambda: st.restarts >= 1 and st.pid is not None and st.state.is_up)
    assert proc_limits(st.pid)["nofile"] == ("512", "512")


async def test_info_shows_the_limits(make_app):
    app = await make_app([{"name": "web", "command": SLEEP, "limits": {"nofile": 65536, "as": "2GiB", "core": 0}}])
    reply = await app.dispatcher.handle("info web", CLI)
    limits = next(f.value for f in reply.fields if f.name == "Limits")
    assert limits == "nofile 65536, as 2 GiB, core 0"


def test_every_limit_the_tests_read_is_a_known_limit():
    assert set(PROC_NAMES) <= set(LIMITS)
