"""procbot against supervisord and PM2, each as it runs by default, timed from outside in one run.

    .venv/bin/python -m bench.bench_peers                 # full run (idle window 300 s), ~12-15 minutes
    .venv/bin/python -m bench.bench_peers --quick         # smoke run (idle window 20 s, N=300 and 1,000), ~2 minutes
    .venv/bin/python -m bench.bench_peers --idle 600 --only n100
    .venv/bin/python -m bench.bench_peers --only n100 --steps idle --idle 30   # cold start and idle RSS only

Sections (``--only``; tables printed as ratios, everything also in bench/results/peers.json):
  n100   N = 100 sleep programs under each daemon: cold start to all running (interleaved repeats), idle CPU
         and RSS with the three daemons idle side by side over one window, ``status`` from the command line,
         kill -9 to replacement (p50/p99, interleaved kills), ``restart all``
  big    N = 1000 (``--big``): idle RSS of the three side by side; ``stop all``: programs gone / CLI returned
  scale  5,000 programs under procbot (``--scale``): start, status, idle CPU, RSS, kill -9 to replacement

How: see bench/_peers.py. In short, the benchmark reads /proc only (never a daemon's API) while it times,
so no daemon is woken early; supervisord 4.x comes from the bench extra (pip), PM2 from ``make bench-peers``
(npm, into bench/.peers/). PM2 is skipped, with a note, when it is not installed. The machine is shared and
noisy: only the ratios between daemons measured in the same run mean anything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench._peers import (
    PEERS,
    PM2_BIN,
    PM2_VERSION,
    Peer,
    Procbot,
    ProcTable,
    become_subreaper,
    byte_compile_procbot,
    cpu_ns,
    cpu_ticks_total,
    memory,
    program_list,
    raise_nofile,
    reap,
)
from bench._util import CLK_TCK, Workspace, median, ms, parse_only, ratio, say, summary, table, write_json
from bench._util import progress as _progress

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "peers.json"
SECTIONS = ("n100", "big", "scale")
_T0 = time.monotonic()


def progress(msg: str) -> None:
    _progress(f"[{time.monotonic() - _T0:5.0f}s] {msg}")


@dataclass
class Plan:
    n: int = 100
    start_reps: int = 3
    idle_secs: float = 300.0
    settle: float = 10.0
    cli_runs: int = 20
    kills: int = 50
    restart_reps: int = 3
    big: int = 1000
    stop_reps: int = 2
    scale: int = 5000
    scale_idle: float = 60.0
    scale_kills: int = 20
    #: parts of section n100 after the cold start (which always runs: it brings the daemons up)
    steps: tuple[str, ...] = ("idle", "status", "kill", "restart")


FULL = Plan()
QUICK = Plan(start_reps=1, idle_secs=20.0, settle=3.0, cli_runs=5, kills=10, restart_reps=1, big=300, stop_reps=1,
             scale=1000, scale_idle=10.0, scale_kills=5)


# -- helpers --------------------------------------------------------------------------------------------
def running(table: ProcTable, peer: Peer, exclude: set[int] | frozenset[int] = frozenset()) -> int:
    """Live program processes of ``peer`` (none of ``exclude``)."""
    pid = peer.pid()
    if pid is None:
        return 0
    return sum(1 for p in table.live_of(pid) if p not in exclude)


def wait_all_running(table: ProcTable, peer: Peer, t0: float, timeout: float) -> float:
    def ok() -> bool:
        if peer.proc is not None and peer.name != "pm2" and peer.proc.poll() is not None:
            raise RuntimeError(f"{peer.name} exited with {peer.proc.returncode}; see {peer.dir}")
        pid = peer.pid()
        return pid is not None and len(table.of(pid)) >= peer.n and running(table, peer) == peer.n

    return table.wait(ok, timeout, 0.002, f"{peer.name}: all {peer.n} running") - t0


def launch_all_running(table: ProcTable, peer: Peer, timeout: float = 300.0) -> float:
    t0 = peer.launch()
    return wait_all_running(table, peer, t0, timeout)


def cli_ok(peer: Peer, cp: subprocess.CompletedProcess[bytes]) -> str:
    out = cp.stdout.decode(errors="replace")
    word = {"procbot": " running ", "supervisord": "RUNNING", "pm2": "online"}[peer.name]
    return f"rc={cp.returncode}, {out.count(word)}/{peer.n} {word.strip()}"


def kinds(args_peers: Sequence[str]) -> list[type[Peer]]:
    return [PEERS[k] for k in args_peers]


def idle_window(peers: Sequence[Peer], secs: float) -> dict[str, Any]:
    """CPU of each daemon over the same wall-clock window (all idle at once, so machine noise hits all)."""
    pids = {p.name: p.pid() for p in peers}
    c0 = {k: (cpu_ns(v), cpu_ticks_total(v)) for k, v in pids.items() if v}
    t0 = time.monotonic()
    time.sleep(secs)
    dt = time.monotonic() - t0
    out: dict[str, Any] = {"seconds": dt}
    logd = next((p.logd_pid() for p in peers if isinstance(p, Procbot)), None)
    if logd is not None:
        out["procbot_logd"] = memory(logd)
    for k, pid in pids.items():
        if not pid or k not in c0:
            continue
        ns1, t1 = cpu_ns(pid), cpu_ticks_total(pid)
        ns0, tk0 = c0[k]
        out[k] = {
            "cpu_percent": (ns1 - ns0) / 1e9 / dt * 100.0 if ns0 is not None and ns1 is not None else None,
            "cpu_ms": (ns1 - ns0) / 1e6 if ns0 is not None and ns1 is not None else None,
            "cpu_ticks": (t1 - tk0) if t1 is not None and tk0 is not None else None,
            **memory(pid),
        }
    return out


# -- N = 100 ----------------------------------------------------------------------------------------------
def section_n100(ws: Workspace, plan: Plan, kinds_: list[type[Peer]], out: dict[str, Any]) -> None:
    progs = program_list(ws, plan.n)
    table_ = ProcTable({argv[0] for _, argv in progs})
    res: dict[str, Any] = {"n": plan.n}
    out["n100"] = res
    peers: list[Peer] = []
    try:
        # cold start, interleaved; the last repeat's daemons stay up for everything else
        starts: dict[str, list[float]] = {k.name: [] for k in kinds_}
        start_cpu: dict[str, list[float]] = {k.name: [] for k in kinds_}
        for r in range(plan.start_reps):
            order = kinds_[r % len(kinds_):] + kinds_[:r % len(kinds_)]
            for kind in order:
                progress(f"N={plan.n} cold start {r + 1}/{plan.start_reps}: {kind.name}")
                peer = kind(ws, f"n{plan.n}-{r}", progs)
                starts[kind.name].append(launch_all_running(table_, peer))
                ticks = cpu_ticks_total(peer.pid() or 0)
                start_cpu[kind.name].append(ticks / CLK_TCK if ticks is not None else math.nan)
                if r < plan.start_reps - 1:
                    peer.teardown(table_)
                else:
                    peers.append(peer)
        res["start"] = {k: summary(v) | {"samples": v, "cpu": summary(start_cpu[k]), "cpu_samples": start_cpu[k]}
                        for k, v in starts.items()}
        for p in peers:  # PM2's CLI returns after the apps are started
            if p.proc is not None and p.name == "pm2":
                p.proc.wait(120)
        print_start(res, plan)
        if "idle" in plan.steps:  # all daemons side by side over one window
            progress(f"N={plan.n}: settle {plan.settle:.0f} s, then idle {plan.idle_secs:.0f} s side by side")
            time.sleep(plan.settle)
            res["idle"] = idle_window(peers, plan.idle_secs)
            print_idle(res["idle"], plan.n, [p.name for p in peers])
        if "status" in plan.steps:  # status from the command line, interleaved
            progress(f"N={plan.n}: status CLI x{plan.cli_runs}")
            res["status"] = cli_status(peers, plan.cli_runs)
            print_status(res["status"], plan.n)
        if "kill" in plan.steps:  # kill -9 -> replacement, interleaved
            progress(f"N={plan.n}: kill -9 x{plan.kills} each")
            res["kill"] = kills(table_, peers, plan.kills)
            print_kills(res["kill"], plan.n)
        if "restart" in plan.steps:
            progress(f"N={plan.n}: restart all x{plan.restart_reps}")
            time.sleep(1.5)  # the last replacements outlive their min_uptime / startsecs
            res["restart_all"] = restart_all(table_, peers, plan.restart_reps)
            print_restart(res["restart_all"], plan.n)
    finally:
        for p in peers:
            p.teardown(table_)


def print_start(res: dict[str, Any], plan: Plan) -> None:
    s = res["start"]
    base = {k: s[k]["median"] for k in ("supervisord", "pm2") if k in s}
    say(table(
        f"A1. Cold start of {res['n']} programs to all running (ms, {plan.start_reps} interleaved runs)",
        ["daemon", "median", "min", "max", "vs supervisord", "vs PM2", "daemon CPU ms", "CPU vs supervisord"],
        [[k, ms(v["median"]), ms(v["min"]), ms(v["max"]), ratio(v["median"], base.get("supervisord")),
          ratio(v["median"], base.get("pm2")), ms(v["cpu"]["median"]),
          ratio(v["cpu"]["median"], s.get("supervisord", {}).get("cpu", {}).get("median"))] for k, v in s.items()],
        ["from launching the daemon (`procbot run`, `supervisord`, `pm2 start ecosystem.json` with no PM2 daemon "
         "yet) until /proc shows all N programs exec'd and alive under it",
         "daemon CPU: the daemon process's utime+stime at that moment (10 ms ticks; PM2: its God daemon only, "
         "not the CLI that started it; procbot: not its log daemon): what the start costs whatever else the machine "
         "runs",
         "defaults everywhere: supervisord waits its 1 s loop before the first spawn; nothing polls any daemon"],
    ))


def print_idle(i: dict[str, Any], n: int, names: list[str]) -> None:
    def r(k: str, key: str, base: str) -> str:
        return ratio(i[k].get(key), i.get(base, {}).get(key)) if base in i else "-"

    say(table(
        f"A2. Idle daemons with {n} programs each, side by side over {i['seconds']:.0f} s",
        ["daemon", "CPU % of a core", "CPU ms", "vs supervisord", "vs PM2", "RSS MiB", "Pss MiB", "anon MiB",
         "RSS vs supervisord", "RSS vs PM2"],
        [[k, f"{i[k]['cpu_percent']:.4f}", f"{i[k]['cpu_ms']:.0f}", r(k, "cpu_ms", "supervisord"),
          r(k, "cpu_ms", "pm2"), f"{i[k].get('VmRSS', math.nan):.1f}", f"{i[k].get('Pss', math.nan):.1f}",
          f"{i[k].get('RssAnon', math.nan):.1f}", r(k, "VmRSS", "supervisord"), r(k, "VmRSS", "pm2")]
         for k in names if k in i],
        ["CPU: sum of /proc/<pid>/task/*/schedstat run time over the window (ns-exact, the daemon's own threads); "
         "RSS: /proc/<pid>/status VmRSS at the end; Pss: smaps_rollup; PM2 = its daemon (God) process",
         "no chat tokens in procbot's environment; default scan interval", _logd_note(i)],
    ))


def _logd_note(i: dict[str, Any]) -> str:
    """procbot's output path is a second process; supervisord and PM2 read the pipes in their daemon."""
    logd = i.get("procbot_logd", {})
    if "VmRSS" not in logd or "VmRSS" not in i.get("procbot", {}):
        return "procbot's log daemon (a separate process) is not counted above"
    both = i["procbot"]["VmRSS"] + logd["VmRSS"]
    sv = i.get("supervisord", {}).get("VmRSS")
    return (f"not counted above: procbot's log daemon, a separate process that reads the programs' pipes "
            f"(supervisord and PM2 read them in their daemon): RSS {logd['VmRSS']:.1f} MiB, Pss "
            f"{logd.get('Pss', math.nan):.1f} MiB; procbot + log daemon = {both:.1f} MiB RSS"
            + (f" ({ratio(both, sv)} supervisord)" if sv else ""))


def cli_status(peers: Sequence[Peer], runs: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {p.name: [] for p in peers}
    check = {}
    for p in peers:  # warm the page cache
        check[p.name] = cli_ok(p, p.run_cli("status"))
    for _ in range(runs):
        for p in peers:
            t0 = time.perf_counter()
            p.run_cli("status")
            times[p.name].append(time.perf_counter() - t0)
    return {k: summary(v) for k, v in times.items()} | {"check": check, "runs": runs}


def print_status(c: dict[str, Any], n: int) -> None:
    names = [k for k in ("procbot", "supervisord", "pm2") if k in c]
    cmd = {"procbot": "procbot status", "supervisord": "supervisorctl status", "pm2": "pm2 status"}
    s, p2 = c.get("supervisord", {}).get("median"), c.get("pm2", {}).get("median")
    say(table(
        f"A3. `status` from the command line, whole process, {n} programs (ms, {c['runs']} interleaved runs)",
        ["command", "median", "p99", "vs supervisorctl", "vs pm2"],
        [[cmd[k], ms(c[k]["median"]), ms(c[k]["p99"]), ratio(c[k]["median"], s), ratio(c[k]["median"], p2)]
         for k in names],
        ["checks: " + "; ".join(f"{cmd[k]} {c['check'][k]}" for k in names)],
    ))


def kills(table_: ProcTable, peers: Sequence[Peer], count: int) -> dict[str, Any]:
    lat: dict[str, list[float]] = {p.name: [] for p in peers}
    for i in range(count):
        for p in peers:
            pid = p.pid()
            assert pid is not None
            table_.poll()
            live = table_.live_of(pid)
            exe = p.programs[i % p.n][1][0]
            victims = [k for k, a in live.items() if a == exe]
            if not victims:
                raise RuntimeError(f"{p.name}: program {i % p.n} is not running")
            victim = victims[0]
            t0 = time.perf_counter()
            os.kill(victim, signal.SIGKILL)
            t1 = table_.wait(lambda v=victim, e=exe, d=pid: any(a == e and k != v for k, a in table_.of(d).items()),
                             30.0, 0.0005, f"{p.name}: replacement of {exe}")
            lat[p.name].append(t1 - t0)
            reap()
        time.sleep(0.05)
    return {k: summary(v) | {"samples": v} for k, v in lat.items()} | {"kills": count}


def print_kills(k: dict[str, Any], n: int) -> None:
    names = [x for x in ("procbot", "supervisord", "pm2") if x in k]
    s, p2 = k.get("supervisord", {}), k.get("pm2", {})
    say(table(
        f"A4. kill -9 of a program to its replacement running, {n} programs ({k['kills']} interleaved kills each, ms)",
        ["daemon", "p50", "p99", "max", "p50 vs supervisord", "p50 vs PM2", "p99 vs supervisord", "p99 vs PM2"],
        [[x, ms(k[x]["median"]), ms(k[x]["p99"]), ms(k[x]["max"]), ratio(k[x]["median"], s.get("median")),
          ratio(k[x]["median"], p2.get("median")), ratio(k[x]["p99"], s.get("p99")), ratio(k[x]["p99"], p2.get("p99"))]
         for x in names],
        ["from os.kill(SIGKILL) until /proc shows a new process with the program's argv under the same daemon "
         "(polled every 0.5 ms); each kill hits a different program that has been up for seconds"],
    ))


def restart_all(table_: ProcTable, peers: Sequence[Peer], reps: int) -> dict[str, Any]:
    res: dict[str, dict[str, list[float]]] = {p.name: {"cli": [], "all": []} for p in peers}
    for _ in range(reps):
        for p in peers:
            pid = p.pid()
            assert pid is not None
            table_.poll()
            old = set(table_.live_of(pid))
            t0 = time.perf_counter()
            cli = p.popen_cli("restart all")
            t_cli = t_all = None
            deadline = t0 + 300
            while t_cli is None or t_all is None:
                table_.poll()
                now = time.perf_counter()
                if t_cli is None and cli.poll() is not None:
                    t_cli = now
                if t_all is None:
                    live = set(table_.live_of(pid))
                    if len(live) == p.n and not (live & old):
                        t_all = now
                if now > deadline:
                    cli.kill()
                    raise TimeoutError(f"{p.name}: restart all not done in 300 s")
                time.sleep(0.002)
            res[p.name]["cli"].append(t_cli - t0)
            res[p.name]["all"].append(t_all - t0)
            reap()
            time.sleep(1.5)  # the new processes outlive min_uptime / startsecs before the next round
    return {k: {"cli": summary(v["cli"]), "all": summary(v["all"])} for k, v in res.items()} | {"reps": reps}


def print_restart(r: dict[str, Any], n: int) -> None:
    names = [x for x in ("procbot", "supervisord", "pm2") if x in r]
    s = r.get("supervisord", {})
    say(table(
        f"A5. `restart all`, {n} programs (ms, median of {r['reps']})",
        ["command", "all replaced", "CLI returned", "replaced vs supervisord", "CLI vs supervisord"],
        [[x, ms(r[x]["all"]["median"]), ms(r[x]["cli"]["median"]),
          ratio(r[x]["all"]["median"], s.get("all", {}).get("median")),
          ratio(r[x]["cli"]["median"], s.get("cli", {}).get("median"))] for x in names],
        ["all replaced = /proc shows N live program processes under the daemon and none of the old ones; "
         "supervisorctl's `restart all` waits for startsecs (1 s by default) before it returns"],
    ))


# -- N = 1000 -----------------------------------------------------------------------------------------------
def section_big(ws: Workspace, plan: Plan, kinds_: list[type[Peer]], out: dict[str, Any]) -> None:
    n = plan.big
    progs = program_list(ws, n)
    table_ = ProcTable({argv[0] for _, argv in progs})
    res: dict[str, Any] = {"n": n, "start": {}, "stop": {}}
    out["big"] = res
    peers: list[Peer] = []
    try:
        for kind in kinds_:
            progress(f"N={n}: start {kind.name}")
            peer = kind(ws, f"big{n}", progs)
            peers.append(peer)
            res["start"][kind.name] = launch_all_running(table_, peer, timeout=120 + n * 0.5)
            if peer.proc is not None and peer.name == "pm2":
                peer.proc.wait(300)
        progress(f"N={n}: settle {plan.settle:.0f} s, idle RSS side by side")
        time.sleep(plan.settle)
        res["idle"] = idle_window(peers, min(plan.idle_secs, 30.0))
        stoppable = [p for p in peers if p.name in ("procbot", "supervisord")]
        for r in range(plan.stop_reps):
            for p in stoppable:
                if r:
                    progress(f"N={n}: start all again ({p.name})")
                    t0 = time.perf_counter()
                    p.popen_cli("start all").wait(300)
                    wait_all_running(table_, p, t0, 300)
                    time.sleep(2.0)
                progress(f"N={n}: stop all {r + 1}/{plan.stop_reps} ({p.name})")
                res["stop"].setdefault(p.name, []).append(stop_all(table_, p))
        print_big(res)
    finally:
        for p in peers:
            p.teardown(table_)


def stop_all(table_: ProcTable, p: Peer) -> dict[str, float]:
    pid = p.pid()
    assert pid is not None
    t0 = time.perf_counter()
    cli = p.popen_cli("stop all")
    t_cli = t_gone = None
    while t_cli is None or t_gone is None:
        table_.poll()
        now = time.perf_counter()
        if t_cli is None and cli.poll() is not None:
            t_cli = now
        if t_gone is None and not table_.live_of(pid):
            t_gone = now
        if now - t0 > 600:
            cli.kill()
            raise TimeoutError(f"{p.name}: stop all not done in 600 s")
        time.sleep(0.002)
    return {"gone": t_gone - t0, "cli": t_cli - t0, "cli_after_gone": t_cli - t_gone}


def print_big(res: dict[str, Any]) -> None:
    n, i = res["n"], res["idle"]
    names = [k for k in ("procbot", "supervisord", "pm2") if k in i]
    say(table(
        f"B1. {n} programs: cold start and idle memory side by side",
        ["daemon", "start ms", "start vs supervisord", "RSS MiB", "Pss MiB", "RSS vs supervisord", "RSS vs PM2",
         f"CPU % over {i['seconds']:.0f} s"],
        [[k, ms(res["start"][k]), ratio(res["start"][k], res["start"].get("supervisord")),
          f"{i[k].get('VmRSS', math.nan):.1f}", f"{i[k].get('Pss', math.nan):.1f}",
          ratio(i[k].get("VmRSS"), i.get("supervisord", {}).get("VmRSS")),
          ratio(i[k].get("VmRSS"), i.get("pm2", {}).get("VmRSS")), f"{i[k]['cpu_percent']:.4f}"] for k in names],
        ["start: one launch each, not interleaved (for scale only; section A1 has the interleaved ratios)"],
    ))
    st = res["stop"]
    sv = st.get("supervisord")
    rows = []
    for k, runs in st.items():
        gone = median([x["gone"] for x in runs])
        cli = median([x["cli"] for x in runs])
        rows.append([k, ms(gone), ms(cli), ms(median([x["cli_after_gone"] for x in runs])),
                     ratio(gone, median([x["gone"] for x in sv]) if sv else None),
                     ratio(cli, median([x["cli"] for x in sv]) if sv else None)])
    say(table(
        f"B2. `stop all`, {n} programs (ms, median of {len(next(iter(st.values()), []))})",
        ["daemon", "programs gone", "CLI returned", "CLI after gone", "gone vs supervisord", "CLI vs supervisord"],
        rows,
        ["gone = /proc shows no live program process under the daemon; CLI = `procbot stop all` / "
         "`supervisorctl stop all` exited"],
    ))


# -- 5,000 programs -------------------------------------------------------------------------------------------
def section_scale(ws: Workspace, plan: Plan, out: dict[str, Any]) -> None:
    n = plan.scale
    progs = program_list(ws, n)
    table_ = ProcTable({argv[0] for _, argv in progs})
    res: dict[str, Any] = {"n": n, "nofile": raise_nofile()}
    out["scale"] = res
    peer = Procbot(ws, f"scale{n}", progs)
    try:
        progress(f"N={n}: procbot start")
        res["start"] = launch_all_running(table_, peer, timeout=120 + n * 0.2)
        progress(f"N={n}: settle {plan.settle:.0f} s, idle {plan.scale_idle:.0f} s")
        time.sleep(plan.settle)
        res["idle"] = idle_window([peer], plan.scale_idle)["procbot"] | {"seconds": plan.scale_idle}
        progress(f"N={n}: status x3")
        cp = peer.run_cli("status")
        res["status_check"] = cli_ok(peer, cp)
        res["status"] = summary([_time_cli(peer, "status") for _ in range(3)])
        progress(f"N={n}: kill -9 x{plan.scale_kills}")
        res["kill"] = kills(table_, [peer], plan.scale_kills)["procbot"]
        time.sleep(1.5)
        progress(f"N={n}: stop all")
        res["stop"] = stop_all(table_, peer)
        print_scale(res)
    finally:
        peer.teardown(table_)


def _time_cli(peer: Peer, verb: str) -> float:
    t0 = time.perf_counter()
    peer.run_cli(verb)
    return time.perf_counter() - t0


def print_scale(r: dict[str, Any]) -> None:
    i = r["idle"]
    say(table(
        f"C. {r['n']} programs under one procbot (RLIMIT_NOFILE soft/hard {r['nofile'][0]}/{r['nofile'][1]})",
        ["measure", "figure"],
        [["cold start to all running", f"{ms(r['start'])} ms"],
         ["`procbot status` (median of 3)", f"{ms(r['status']['median'])} ms ({r['status_check']})"],
         [f"idle CPU over {i['seconds']:.0f} s", f"{i['cpu_percent']:.4f} % of a core"],
         ["RSS / Pss", f"{i.get('VmRSS', math.nan):.1f} / {i.get('Pss', math.nan):.1f} MiB"],
         [f"kill -9 to replacement p50 / p99 ({r['kill']['n']} kills)",
          f"{ms(r['kill']['median'])} / {ms(r['kill']['p99'])} ms"],
         ["`stop all`: programs gone / CLI returned",
          f"{ms(r['stop']['gone'])} / {ms(r['stop']['cli'])} ms"]],
    ))


# -- main -------------------------------------------------------------------------------------------------
def meta(plan: Plan, quick: bool, names: list[str]) -> dict[str, Any]:
    from importlib.metadata import version

    pm2v = None
    if "pm2" in names:  # from its package.json: `pm2 --version` would start a PM2 daemon
        with contextlib.suppress(OSError, ValueError, KeyError):
            pm2v = json.loads((PM2_BIN.parent.parent / "pm2" / "package.json").read_text())["version"]
    return {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": quick, "plan": asdict(plan), "peers": names,
            "python": platform.python_version(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "supervisor": version("supervisor"), "pm2": pm2v, "pm2_pinned": PM2_VERSION, "clk_tck": CLK_TCK}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_peers", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run (~2 min): idle 20 s, N=300/1000")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma list of: " + ", ".join(SECTIONS))
    ap.add_argument("--idle", type=float, help="idle CPU window in seconds (full run: 300)")
    ap.add_argument("--big", type=int, help="N for section big (full: 1000)")
    ap.add_argument("--scale", type=int, help="N for section scale (full: 5000)")
    ap.add_argument("--kills", type=int, help="kills per daemon in section n100")
    ap.add_argument("--start-reps", type=int, help="interleaved cold starts per daemon in section n100 (full: 3)")
    ap.add_argument("--steps", help="section n100 after its cold start, comma list of: " + ", ".join(Plan.steps))
    ap.add_argument("--peers", default="procbot,supervisord,pm2", help="comma list of: procbot, supervisord, pm2")
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    for k in ("idle", "big", "scale", "kills", "start_reps"):
        v = getattr(args, k)
        if v is not None:
            setattr(plan, {"idle": "idle_secs"}.get(k, k), v)
    if args.steps is not None:
        plan.steps = tuple(parse_only(ap, args.steps, set(Plan.steps)))
    only = parse_only(ap, args.only, set(SECTIONS))
    names = [k for k in ("procbot", "supervisord", "pm2") if k in parse_only(ap, args.peers, set(PEERS))]
    if "pm2" in names and not PM2_BIN.exists():
        say(f"PM2 is not installed in {PM2_BIN.parent}: run `make bench-peers`; going on without it")
        names.remove("pm2")
    become_subreaper()
    nofile = raise_nofile()
    out: dict[str, Any] = {"meta": meta(plan, args.quick, names)}
    out["meta"]["nofile"] = nofile
    out["meta"]["byte_compiled"] = byte_compile_procbot()
    m = out["meta"]
    say(f"procbot vs peers ({'quick' if args.quick else 'full'}): python {m['python']}, {m['cpus']} CPUs, "
        f"kernel {m['kernel']}, supervisor {m['supervisor']}, pm2 {m['pm2'] or 'skipped'}, "
        f"RLIMIT_NOFILE {nofile[0]}/{nofile[1]}")
    ws = Workspace("procbot-peers-")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    t0 = time.monotonic()
    kinds_ = kinds(names)
    try:
        if "n100" in only:
            section_n100(ws, plan, kinds_, out)
        if "big" in only:
            section_big(ws, plan, kinds_, out)
        if "scale" in only and "procbot" in names:
            section_scale(ws, plan, out)
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        m["seconds"] = time.monotonic() - t0
        write_json(RESULTS, out)
        ws.close()
        with contextlib.suppress(Exception):
            reap()
    say(f"\n(total {m['seconds']:.0f} s; JSON in {RESULTS.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
