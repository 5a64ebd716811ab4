"""max_memory: a tree that stays above its limit is restarted gracefully, with one alert naming the limit."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from core.actor import Actor, CommandContext
from core.process.memory_limit import BY, MemoryLimits, hard_limit
from core.spec import ProgramSpec
from tests.alert_fixtures import alert_rig, slack_alert_rig, wait_logged
from tests.helpers import wait_for

PY = sys.executable
MiB = 1 << 20

#: a program that, on its first run only (a marker file remembers), grows to ~120 MiB after a moment
GROWER = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM", flush=True), sys.exit(0)))
print("up", flush=True)
if not os.path.exists(sys.argv[1]):
    open(sys.argv[1], "w").close()
    time.sleep(0.3)
    hog = b"x" * (120 << 20)
    print("grown", flush=True)
while True:
    time.sleep(3600)
"""


def grower(name: str, marker: Path, **extra: object) -> dict[str, object]:
    return {"name": name, "command": [PY, "-c", GROWER, str(marker)], "min_uptime": 0.3,
            "max_memory": "60MiB", "max_memory_samples": 2, **extra}


# -- the decision, without processes -----------------------------------------------------------
def test_a_breach_needs_n_consecutive_samples_above_the_limit():
    limits = MemoryLimits()
    assert limits.observe("web", 10, 700, limit=500, samples=3) is None
    assert limits.observe("web", 10, 400, limit=500, samples=3) is None  # back under: the count restarts
    assert limits.observe("web", 10, 700, limit=500, samples=3) is None
    assert limits.observe("web", 10, 700, limit=500, samples=3) is None
    breach = limits.observe("web", 10, 612 * MiB, limit=512 * MiB, samples=3)
    assert breach is not None
    assert breach.message() == "web used 612 MiB > max_memory 512 MiB for 3 samples"


def test_one_breach_per_episode_however_long_it_stays_above():
    limits = MemoryLimits()
    breaches = [limits.observe("web", 10, 700, limit=500, samples=2) for _ in range(10)]
    assert sum(b is not None for b in breaches) == 1


def test_a_new_pid_starts_a_new_episode():
    limits = MemoryLimits()
    assert [limits.observe("web", 10, 700, 500, 1) is not None for _ in range(2)] == [True, False]
    assert limits.observe("web", 11, 700, 500, 1) is not None  # restarted, and above again


def test_the_kernel_limit_is_half_as_much_again_unless_max_memory_hard_says():
    base = {"name": "web", "command": ["x"]}
    assert hard_limit(ProgramSpec(**base)) is None
    assert hard_limit(ProgramSpec(**base, max_memory=512 * MiB)) == 768 * MiB
    assert hard_limit(ProgramSpec(**base, max_memory=512 * MiB, max_memory_hard=600 * MiB)) == 600 * MiB


# -- real processes ------------------------------------------------------------------------------
async def test_growing_past_max_memory_restarts_the_program_with_one_alert_naming_the_limit(make_app, tmp_path):
    async with alert_rig(make_app, [grower("hog", tmp_path / "grew")], procbot={"scan_interval": 0.2}) as rig:
        st = rig.app.supervisor.state("hog")
        await wait_logged(rig.app, "hog", "grown")
        first = st.pid
        await wait_for(lambda: st.restarts == 1 and st.pid != first and st.state.value == "running")
        await rig.settle()

        [alert] = rig.rec.top_level()
        assert alert.reply.title == "hog went over max_memory on testhost"
        assert re.fullmatch(r"hog used \d+ MiB > max_memory 60 MiB for 2 samples: restarting\.", alert.reply.text)
        assert alert.current.data["state"] == "resolved"  # the new run stayed up: recovered in place


async def test_a_memory_restart_counts_as_a_failure_in_the_digest(make_app, tmp_path):
    async with alert_rig(make_app, [grower("hog", tmp_path / "grew")], procbot={"scan_interval": 0.2}) as rig:
        st = rig.app.supervisor.state("hog")
        since = rig.app.clock.time() - 1
        await wait_for(lambda: st.restarts == 1 and st.state.value == "running")
        digest = await rig.alerting.builder.build("daily", since, rig.app.clock.time() + 1)
        [line] = digest.programs
        assert line.crashes == 1  # the digest agrees with the alert it sent


async def test_the_memory_restart_is_a_graceful_stop_then_a_start(make_app, tmp_path):
    async with alert_rig(make_app, [grower("hog", tmp_path / "grew")], procbot={"scan_interval": 0.2}) as rig:
        st = rig.app.supervisor.state("hog")
        await wait_logged(rig.app, "hog", "grown")
        await wait_for(lambda: st.restarts == 1 and st.state.value == "running")
        await wait_logged(rig.app, "hog", "got SIGTERM")  # its stop_signal, not a SIGKILL
        rows = await rig.app.registry.fetch_all("SELECT started_by FROM runs WHERE program='hog' ORDER BY id")
        assert [r[0] for r in rows][-1] == BY


async def test_a_program_under_max_memory_is_left_alone(make_app, tmp_path):
    (tmp_path / "grew").touch()  # the grower stays small: never above its limit
    async with alert_rig(make_app, [grower("calm", tmp_path / "grew")], procbot={"scan_interval": 0.1}) as rig:
        st = rig.app.supervisor.state("calm")
        await wait_logged(rig.app, "calm", "up")
        pid, scans = st.pid, rig.app.scanner.scans
        await wait_for(lambda: rig.app.scanner.scans >= scans + 10)
        await rig.settle()
        assert (st.pid, st.restarts, rig.rec.messages) == (pid, 0, [])


async def test_info_shows_the_memory_limit_and_the_restart_schedule(make_app, tmp_path):
    prog = grower("web", tmp_path / "grew", max_memory="512MiB", max_memory_samples=3, restart_cron="0 4 * * *",
                  restart_cron_timezone="Europe/Paris")
    app = await make_app([prog])
    reply = await app.dispatcher.handle("info web", CommandContext(Actor("cli", "tester", local=True)))
    fields = {f.name: f.value for f in reply.fields}
    assert fields["Memory limit"] == "512 MiB for 3 scans, then restarted; memory.max 768 MiB in cgroup mode"
    assert fields["Scheduled restart"] == "0 4 * * * (Europe/Paris)"


async def test_the_memory_alert_reaches_slack_once_naming_the_limit(make_app, tmp_path):
    async with slack_alert_rig(make_app, [grower("hog", tmp_path / "grew")], procbot={"scan_interval": 0.2}) as rig:
        st = rig.app.supervisor.state("hog")
        await wait_for(lambda: st.restarts == 1 and st.state.value == "running")
        await rig.fake.wait_for(lambda: rig.fake.calls_to("chat.postMessage"), timeout=10)
        await rig.settle()
        posts = [c.args for c in rig.fake.calls_to("chat.postMessage") if not c.args.get("thread_ts")]
        [alert] = posts  # one alert; the recovery is an edit of it and a reply in its thread
        assert alert["text"].startswith("hog went over max_memory on testhost")
        assert re.search(r"hog used \d+ MiB &gt; max_memory 60 MiB for 2 samples: restarting", json.dumps(alert))
