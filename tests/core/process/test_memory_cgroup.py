"""max_memory in cgroup mode: memory.max is written for the program's cgroup, and OOM kills are counted exactly.

The kernel tests need a writable cgroup v2 with the memory controller: they skip with the reason elsewhere
(a hybrid host keeps memory on cgroup v1; procbot's cgroup may hold processes and so delegate nothing).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import pytest

from core.alerts import messages as af
from core.alerts.incidents import Incident
from core.process import cgroups
from core.process import tags as process_tags
from core.process.events import EventKind, ProgramEvent
from core.process.oom import OomWatch
from tests.alert_fixtures import alert_program, alert_rig, wait_logged
from tests.faults.identity_support import cgroup_writable
from tests.helpers import wait_for

PY = sys.executable
MiB = 1 << 20


def _memory_problem() -> str | None:
    """Why procbot could not set memory.max here (None: it can)."""
    probe = cgroups.locate(process_tags.home_id(Path(f"/tmp/procbot-memprobe-{os.getpid()}")))
    if probe is None:
        return "no writable cgroup v2 here"
    try:
        return probe.enable_memory()
    finally:
        probe.remove_base()


PROBLEM = _memory_problem()
MEMORY = pytest.mark.skipif(PROBLEM is not None, reason=f"no cgroup v2 memory controller for procbot: {PROBLEM}")


def _swap() -> bool:
    with open("/proc/meminfo") as f:
        return any(line.startswith("SwapTotal:") and int(line.split()[1]) > 0 for line in f)


@MEMORY
async def test_cgroup_mode_writes_memory_max_for_a_program_with_max_memory(make_app):
    app = await make_app([alert_program("web", max_memory="64MiB")])
    await wait_for(lambda: app.supervisor.state("web").pid is not None)
    limit = (app.supervisor.identity.tree.path("web") / "memory.max").read_text().strip()  # type: ignore[attr-defined]
    assert limit == str(96 * MiB)  # half as much again: the kernel backs up procbot's restart


@MEMORY
@pytest.mark.skipif(_swap(), reason="swap is on: at memory.max the kernel swaps before it OOM-kills")
async def test_an_oom_kill_in_the_programs_cgroup_is_reported_exactly(make_app):
    code = "import time\nprint('up', flush=True)\ntime.sleep(0.3)\nhog = b'x' * (400 << 20)\ntime.sleep(3600)"
    prog = {"name": "hog", "command": [PY, "-c", code], "min_uptime": 30, "max_memory": "32MiB",
            "max_memory_hard": "48MiB", "max_memory_samples": 1000}
    async with alert_rig(make_app, [prog]) as rig:
        await wait_logged(rig.app, "hog", "up")
        await wait_for(lambda: rig.rec.messages, timeout=20)
        assert _exit_field(rig) == ("killed by SIGKILL: out of memory (the kernel's OOM killer ended 1 process "
                                    "of it at memory.max)")


@pytest.mark.skipif(not cgroup_writable() or PROBLEM is None,
                    reason="needs cgroup mode without the memory controller (here it has it, or no cgroup at all)")
async def test_without_the_memory_controller_the_reason_is_logged_and_sampling_keeps_the_limit(make_app, caplog):
    caplog.set_level(logging.WARNING, logger="core.process.identity")
    app = await make_app([alert_program("web", max_memory="64MiB")])
    await wait_for(lambda: app.supervisor.state("web").state.value == "running")
    assert app.supervisor.identity.mode == "cgroup"
    assert any("memory.max is not set" in r.getMessage() for r in caplog.records)


async def test_a_crash_with_oom_kills_counted_in_its_cgroup_is_reported_without_guessing(make_app):
    async with alert_rig(make_app, [alert_program("hog", min_uptime=30)]) as rig:
        await wait_logged(rig.app, "hog", "starting")
        pid = rig.pid("hog")
        # what the runner publishes when the program's cgroup counted two OOM kills in the run that ended
        rig.app.bus.publish(ProgramEvent(EventKind.CRASHED, "hog", time.time(), pid=pid, signal="SIGKILL",
                                         oom_kills=2, next_action="restart in 1s"))
        await wait_for(lambda: rig.rec.messages)
        assert _exit_field(rig) == ("killed by SIGKILL: out of memory (the kernel's OOM killer ended 2 processes "
                                    "of it at memory.max)")


async def test_a_sigkill_its_cgroup_did_not_count_is_not_called_out_of_memory(make_app, tmp_path: Path):
    counter = tmp_path / "vmstat"
    counter.write_text("oom_kill 3\n")
    async with alert_rig(make_app, [alert_program("hog", min_uptime=30)]) as rig:
        rig.alerting.policy.intake.oom = OomWatch([counter])
        await wait_logged(rig.app, "hog", "starting")
        pid = rig.pid("hog")
        counter.write_text("oom_kill 4\n")  # some other process on the host was OOM-killed meanwhile
        rig.app.bus.publish(ProgramEvent(EventKind.CRASHED, "hog", time.time(), pid=pid, signal="SIGKILL",
                                         oom_kills=0, next_action="restart in 1s"))
        await wait_for(lambda: rig.rec.messages)
        assert _exit_field(rig) == "killed by SIGKILL"  # no "out of memory?": the count is exact


def _exit_field(rig) -> str:  # type: ignore[no-untyped-def]
    return {f.name: f.value for f in rig.rec.messages[0].reply.fields}["Exit"]


def test_an_exact_oom_count_names_the_kernel_for_an_exit_code_too():
    inc = Incident("web", 0.0, 0.0, exit_code=1, oom_kills=1)
    assert af.exit_description(inc) == ("exit code 1: out of memory (the kernel's OOM killer ended 1 process of it "
                                        "at memory.max)")
