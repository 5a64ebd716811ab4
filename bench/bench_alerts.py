"""Alert and digest benchmarks for issue 4.

    .venv/bin/python -m bench.bench_alerts            # full run, ~1-2 minutes
    .venv/bin/python -m bench.bench_alerts --quick    # smoke run, ~20 s
    .venv/bin/python -m bench.bench_alerts --only latency,storm,digest --kills 50

Sections (tables are printed; everything also goes to bench/results/alerts.json):
  1. kill -9 of a managed program -> alert received: by an in-process Messenger, and by the fake
     Slack through the real slack-bolt adapter over HTTP (median and p99 over --kills kills);
     compared with the 10 s polling of the reviewed design and Monit's default 30 s cycle
  2. a storm of 50 programs killed at once: messages posted at the fake Slack, edits, and the time
     until every program appears in a delivered message (vs one message per crash)
  3. digest build for 1000 programs with 30 days of samples (per-minute for the last day, 15-minute
     buckets before, as thinning leaves them): one day and thirty days, hourly rollup vs the raw
     aggregate over ``samples``

Latency is measured on the event loop's clock: the kill is timed just before ``os.kill``, the
alert when the fake's HTTP handler (same process, same loop) records the ``chat.postMessage``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._util import Workspace, median, ms, parse_only, pct, progress, ratio, say, table
from bot.app import App
from bot.config_loader import config_from_dict
from bot.extensions import Alerting, install_extensions
from core.process.events import EventKind
from core.reply import Reply
from core.store.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "alerts.json"
POLL_INTERVAL = 10.0   # the reviewed dashboard's design
MONIT_CYCLE = 30.0     # Monit's default check cycle
BOT_TOKEN = "xoxb-1111-2222-fakebottoken"
APP_TOKEN = "xapp-1-A111-3333-fakeapptoken"


@dataclass
class Plan:
    kills: int
    storm: int
    storm_runs: int
    digest_programs: int
    digest_days: int
    digest_repeat: int


FULL = Plan(kills=60, storm=50, storm_runs=3, digest_programs=1000, digest_days=30, digest_repeat=5)
QUICK = Plan(kills=15, storm=50, storm_runs=1, digest_programs=200, digest_days=30, digest_repeat=3)


class TimedMessenger:
    """An in-process Messenger that notes when each message arrives (loop time)."""

    platform = "console"

    def __init__(self) -> None:
        self.posts: list[tuple[float, str | None, Reply]] = []
        self.arrived = asyncio.Event()

    async def post(self, channel: str, reply: Reply, thread_ref: str | None = None) -> str:
        self.posts.append((asyncio.get_running_loop().time(), thread_ref, reply))
        self.arrived.set()
        return f"m{len(self.posts)}"

    async def update(self, channel: str, ref: str, reply: Reply) -> None:
        return None


def make_config(ws: Workspace, name: str, programs: list[dict[str, Any]], **sections: Any) -> Any:
    data: dict[str, Any] = {
        "procbot": {"state_dir": str(ws.sub(name) / "state"), "scan_interval": 5.0, "host_name": "benchhost"},
        "program": programs, **sections,
    }
    return config_from_dict(data, str(ws.sub(name) / "procbot.toml"))


def sleeper(ws: Workspace, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "command": [ws.exe(f"bench-alert-{name}"), "100000"], **extra}


async def started(app: App, settings: dict[str, Any] | None = None) -> Alerting:
    alerting = install_extensions(app)
    await app.start()
    return alerting


async def wait_state(app: App, name: str, state: str, timeout: float = 10.0) -> int:
    st = app.supervisor.state(name)
    deadline = time.monotonic() + timeout
    while st.state.value != state or st.pid is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} not {state} within {timeout}s")
        await asyncio.sleep(0.005)
    return st.pid


# -- 1. crash -> alert latency ---------------------------------------------------------------------
async def latency_run(ws: Workspace, kills: int, via_slack: bool) -> dict[str, Any]:
    label = "slack" if via_slack else "inproc"
    alerts = {"route": [{"to": ["slack:CBENCH" if via_slack else "console"]}], "flap_window": 0.01}
    prog = sleeper(ws, f"lat-{label}", min_uptime=0.05, give_up={"failures": 10000, "window": 1})
    fake = None
    if via_slack:
        from tests.fakes.slack_server import FakeSlack

        fake = await FakeSlack().start()
        config = make_config(ws, f"lat-{label}", [prog], alerts=alerts, slack={"api_url": fake.api_url})
        app = App(config, environ=dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN),
                  console_events=False, console_out=open(os.devnull, "w"))  # noqa: SIM115 - process-lifetime
    else:
        config = make_config(ws, f"lat-{label}", [prog], alerts=alerts)
        app = App(config, with_adapters=False, console_events=False)
    timed = TimedMessenger()
    if not via_slack:
        app.messengers["console"] = timed
    events = app.bus.subscribe()
    alerting = await started(app)
    loop = asyncio.get_running_loop()
    to_event, to_alert = [], []
    try:
        name = prog["name"]
        for i in range(kills):
            pid = await wait_state(app, name, "running")
            await alerting.policy.settle()
            await alerting.outbox.drain(10)
            while not events.empty():
                events.get_nowait()
            before = len(fake.calls_to("chat.postMessage")) if fake else len(timed.posts)
            t0 = loop.time()
            os.kill(pid, signal.SIGKILL)
            while (await events.get()).kind not in (EventKind.CRASHED, EventKind.GAVE_UP):
                pass
            to_event.append(loop.time() - t0)
            if fake is not None:
                calls = await fake.wait_for(
                    lambda b=before: [c for c in fake.calls_to("chat.postMessage")[b:] if not c.args.get("thread_ts")],
                    timeout=10)
                to_alert.append(calls[0].at - t0)
            else:
                while not [p for p in timed.posts[before:] if p[1] is None]:
                    timed.arrived.clear()
                    await asyncio.wait_for(timed.arrived.wait(), 10)
                to_alert.append(next(p for p in timed.posts[before:] if p[1] is None)[0] - t0)
            if (i + 1) % 10 == 0:
                progress(f"{label}: {i + 1}/{kills} kills")
    finally:
        await app.stop(stop_programs=True)
        app.bus.unsubscribe(events)
        if fake is not None:
            await fake.stop()
    return {"to_event": to_event, "to_alert": to_alert}


# -- 2. storm ------------------------------------------------------------------------------------
async def storm_run(ws: Workspace, n: int, run: int) -> dict[str, Any]:
    from tests.fakes.slack_server import FakeSlack

    fake = await FakeSlack().start()
    names = [f"storm{run}-{i:02d}" for i in range(n)]
    progs = [sleeper(ws, name, min_uptime=30) for name in names]
    config = make_config(ws, f"storm{run}", progs, alerts={"route": [{"to": ["slack:CSTORM"]}]},
                         slack={"api_url": fake.api_url})
    app = App(config, environ=dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN),
              console_events=False, console_out=open(os.devnull, "w"))  # noqa: SIM115 - process-lifetime
    alerting = await started(app)
    loop = asyncio.get_running_loop()
    try:
        pids = [await wait_state(app, name, "starting") for name in names]
        await alerting.outbox.drain(10)

        def reported() -> bool:
            seen = " ".join(json.dumps(m.blocks) + m.text for m in fake.messages.values())
            return all(name in seen for name in names)

        t0 = loop.time()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        await fake.wait_for(reported, timeout=30)
        all_reported = loop.time() - t0
        posts = fake.calls_to("chat.postMessage")
        first = min(c.at for c in posts) - t0
        await asyncio.sleep(1.0)  # anything still to come (held alerts, late edits) would show now
        await alerting.policy.settle()
        await alerting.outbox.drain(10)
        top = [m for m in fake.messages.values() if m.thread_ts is None]
        return {"programs": n, "messages": len(top), "edits": len(fake.calls_to("chat.update")),
                "first_message": first, "all_reported": all_reported}
    finally:
        await app.stop(stop_programs=True)
        await fake.stop()


# -- 3. digest build -----------------------------------------------------------------------------
def fill_history(db_path: Path, programs: list[str], days: int, now: float) -> int:
    """Samples as 30 days of scanning and thinning leave them, plus a few crash events per program."""
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    rows: list[tuple[Any, ...]] = []
    total = 0
    day_start = now - 86400
    old_start = (now - days * 86400) // 900 * 900
    for k, prog in enumerate(programs):
        down = k % 10 == 0  # every tenth program is down a twentieth of the time
        for i in range(int((day_start - old_start) // 900)):
            up = 15 if not (down and i % 20 == 0) else 0
            rows.append((prog, old_start + i * 900, 900.0, 15, 1.5, 9.0, 5e7, 80_000_000, up))
        for i in range(1440):
            up = 1 if not (down and i % 20 == 0) else 0
            rows.append((prog, day_start // 60 * 60 + i * 60, 60.0, 1, 1.5, 9.0, 5e7, 80_000_000, up))
        if len(rows) > 200_000:
            db.executemany("INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?)", rows)
            total += len(rows)
            rows.clear()
    db.executemany("INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?)", rows)
    total += len(rows)
    events = [(now - (j + 1) * 86400 / 3, prog, kind, json.dumps(detail))
              for k, prog in enumerate(programs) if k % 10 == 0 for j in range(days * 3)
              for kind, detail in (("crashed", {"signal": "SIGKILL"}), ("started", {"by": "procbot (restart policy)"}))]
    db.executemany("INSERT INTO events(at, program, kind, detail_json) VALUES (?,?,?,?)", events)
    db.execute("COMMIT")
    db.close()
    return total


async def digest_bench(ws: Workspace, n: int, days: int, repeat: int) -> dict[str, Any]:
    names = [f"svc{i:04d}" for i in range(n)]
    progs = [{"name": p, "command": [ws.exe("bench-alert-digest"), "100000"], "autostart": False} for p in names]
    config = make_config(ws, "digest", progs)
    config = dataclasses.replace(config, procbot=dataclasses.replace(config.procbot, scan_interval=3600.0))
    reg = Registry(config.state_dir / "procbot.db")
    await reg.open()  # creates the schema (migrations) before the bulk fill
    await reg.close()
    now = time.time() // 3600 * 3600 - 60  # the fill ends a minute before an hour, like a 09:00 digest
    progress(f"digest: writing {n} programs x {days} days of samples ...")
    t = time.perf_counter()
    rows = await asyncio.to_thread(fill_history, config.state_dir / "procbot.db", names, days, now)
    fill = time.perf_counter() - t
    app = App(config, with_adapters=False, console_events=False)
    alerting = await started(app)
    try:
        t = time.perf_counter()
        await alerting.digests.rollup.roll(time.time())
        first_roll = time.perf_counter() - t
        out: dict[str, Any] = {"programs": n, "days": days, "sample_rows": rows, "fill_seconds": fill,
                               "first_roll": first_roll}
        for label, period in (("1 day", 86400.0), (f"{days} days", days * 86400.0)):
            since = now - period
            builds, raws = [], []
            for _ in range(repeat):
                t = time.perf_counter()
                d = await alerting.builder.build("bench", since, now)
                builds.append(time.perf_counter() - t)
                t = time.perf_counter()
                await app.registry.sample_summary(since, now)
                raws.append(time.perf_counter() - t)
            assert len(d.programs) == n and all(p.uptime is not None for p in d.programs)
            out[label] = {"build": builds, "raw_aggregate": raws,
                          "uptime_min": min(p.uptime or 0 for p in d.programs)}
        return out
    finally:
        await app.stop(stop_programs=False)


# -- main ----------------------------------------------------------------------------------------
async def amain(plan: Plan, only: set[str], ws: Workspace) -> dict[str, Any]:
    out: dict[str, Any] = {"meta": {"python": sys.version.split()[0], "machine": platform.machine(),
                                    "cpus": os.cpu_count(), "plan": plan.__dict__}}
    if "latency" in only:
        progress(f"latency: {plan.kills} kills, in-process Messenger")
        inproc = await latency_run(ws, plan.kills, via_slack=False)
        progress(f"latency: {plan.kills} kills, fake Slack through the real adapter")
        slack = await latency_run(ws, plan.kills, via_slack=True)
        out["latency"] = {"inproc": inproc, "slack": slack}
        poll_mean = POLL_INTERVAL / 2
        rows = []
        for label, xs in (("kill -> exit event", slack["to_event"] + inproc["to_event"]),
                          ("kill -> alert at in-process Messenger", inproc["to_alert"]),
                          ("kill -> alert at fake Slack (HTTP)", slack["to_alert"])):
            rows.append([label, len(xs), ms(median(xs)), ms(pct(xs, 99)), ms(max(xs)),
                         ratio(poll_mean, median(xs)), ratio(MONIT_CYCLE / 2, median(xs))])
        rows.append(["10 s polling design (expected)", "-", ms(POLL_INTERVAL / 2), ms(POLL_INTERVAL * 0.99),
                     ms(POLL_INTERVAL), "1x", "-"])
        say(table("1. kill -9 -> alert received (ms)",
                  ["path", "n", "median", "p99", "max", "vs 10 s poll", "vs Monit 30 s"], rows,
                  ["targets: p50 < 100 ms, p99 < 500 ms; a poller notices a death after half its interval "
                   "on average (5 s), at worst a whole one"]))
    if "storm" in only:
        runs = []
        for r in range(plan.storm_runs):
            progress(f"storm: run {r + 1}/{plan.storm_runs}, {plan.storm} programs")
            runs.append(await storm_run(ws, plan.storm, r))
        out["storm"] = runs
        rows = [[i + 1, s["programs"], s["messages"], s["edits"], ms(s["first_message"]), ms(s["all_reported"]),
                 ratio(s["programs"], s["messages"])] for i, s in enumerate(runs)]
        say(table(f"2. storm: {plan.storm} programs killed at once (fake Slack)",
                  ["run", "programs", "messages", "edits", "first msg ms", "all reported ms", "fewer msgs vs 1/crash"],
                  rows, ["target: at most 3 messages; all reported = every program named in a delivered message"]))
    if "digest" in only:
        d = await digest_bench(ws, plan.digest_programs, plan.digest_days, plan.digest_repeat)
        out["digest"] = d
        rows = []
        for label in ("1 day", f"{plan.digest_days} days"):
            b, r = d[label]["build"], d[label]["raw_aggregate"]
            rows.append([label, ms(median(b)), ms(max(b)), ms(median(r)), ratio(median(r), median(b))])
        say(table(f"3. digest build: {d['programs']} programs, {d['days']} days of samples "
                  f"({d['sample_rows']:,} rows)",
                  ["period", "build median ms", "build max ms", "raw samples aggregate ms", "speed-up"], rows,
                  [f"first rollup of the whole history (once, in the background): {d['first_roll']:.2f} s; "
                   "target: < 1 s per digest",
                   "build = whole digest (rollup + edges, events, runs, incidents); raw = one GROUP BY over samples"]))
    return out


def clean(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_alerts", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter smoke run (~20 s)")
    ap.add_argument("--only", default="latency,storm,digest", help="comma list of: latency, storm, digest")
    ap.add_argument("--kills", type=int, help="kills for section 1 (at least 50 for the issue's figures)")
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.kills:
        plan.kills = args.kills
    only = parse_only(ap, args.only, {"latency", "storm", "digest"})
    sys.path.insert(0, str(ROOT))  # the fake Slack lives in tests/fakes
    ws = Workspace(prefix="procbot-bench-alerts-")
    t0 = time.monotonic()
    try:
        out = asyncio.run(amain(plan, only, ws))
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        ws.close()
    out["meta"]["seconds"] = time.monotonic() - t0
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(clean(out), indent=2) + "\n")
    say(f"\n(total {out['meta']['seconds']:.0f} s; JSON in {RESULTS.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
