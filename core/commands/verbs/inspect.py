"""status, info and history: what the programs are doing and have done. They change nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shlex
from dataclasses import asdict
from pathlib import Path

from core import formatting as fmt
from core.actor import CommandContext
from core.commands.grammar import Command
from core.commands.verbs import Services
from core.errors import NotRunning
from core.health.targets import describe
from core.logd.client import describe_stats
from core.process import spawn_args
from core.process.logs import log_path
from core.process.memory_limit import memory_limit_text
from core.process.states import FAILED_STATES, ProgramState, State
from core.reply import STATE_TONE, Field, Reply, Table, Tone
from core.spec import ProgramSpec
from core.spec.instances import family, is_instance

DEFAULT_HISTORY_RUNS = 10
DEFAULT_PRIORITY = next(f.default for f in dataclasses.fields(ProgramSpec) if f.name == "priority")


async def status(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    sup = env.supervisor
    await env.scanner.settled()
    if not programs:
        all_progs = {st.name: st.group for st in sup.states()}
        programs = env.permissions.visible(ctx.actor, ctx.channel, "status", all_progs)
    now = env.clock.time()
    rows, states, snaps = [], [], []
    counts: dict[str, int] = {}
    for name in programs:
        st = sup.state(name)
        counts[st.state.value] = counts.get(st.state.value, 0) + 1
        rows.append([
            name,
            st.state.value,
            str(st.pid) if st.state.is_up and st.pid else "-",
            fmt.duration(st.uptime(now)),
            f"{st.cpu_percent:.1f}%" if st.state.is_up else "-",
            fmt.size(st.rss_bytes) if st.state.is_up else "-",
            _detail(st, now),
        ])
        states.append(st.state.value)
        snaps.append(st.snapshot(now))
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no programs"
    notes = env.notes.status_notes() if env.notes else []
    notes.extend(env.registry.status_notes())  # "history is not being recorded since ..."
    notes += sup.logs.status_notes()
    silenced = env.silences.active()
    if silenced:
        notes.append(f"{len(silenced)} active silence(s): " + ", ".join(s.target for s in silenced[:5]))
    bad = any(s in FAILED_STATES for s in counts)
    return Reply(
        title=f"Status on {env.host}",
        text=summary + ("\n" + "\n".join(notes) if notes else ""),
        tone=Tone.WARN if bad else Tone.OK,
        table=Table(["PROGRAM", "STATE", "PID", "UPTIME", "CPU", "MEM", "DETAIL"], rows, states),
        # the CLI's exit status (supervisorctl's 3) reads this: "up" has one definition, State.is_up
        data={"programs": snaps, "notes": notes, "registry": asdict(env.registry.health),
              "not_running": [sn["name"] for sn, st in zip(snaps, states, strict=True)
                              if not State(st).is_up]},
        ephemeral=True,
    )


async def info(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    sup = env.supervisor
    name = programs[0]
    st = sup.state(name)
    now = env.clock.time()
    fields = [Field("State", st.state.value), Field("PID", str(st.pid) if st.state.is_up else "-"),
              Field("Uptime", fmt.duration(st.uptime(now))), Field("Group", st.group or "-")]
    if name in sup.runners:
        spec = sup.runners[name].spec
        fields += [
            Field("Command", shlex.join(spec.command), inline=False),
            Field("Restart policy",
                  f"{spec.restart} (expected exit {', '.join(map(str, spec.expected_exit_codes))})"),
            Field("Autostart", "yes" if spec.autostart else "no"),
            *_order_fields(spec),
            Field("Restarts", str(st.restarts)),
            Field("Stop", f"{spec.stop_signal}, then SIGKILL after {fmt.duration(spec.stop_timeout)}"),
            *[Field(label, text, inline=False) for label, text in await _spawn_settings(spec, sup.config.base_dir)],
            *_health_fields(spec, st),
            Field("Log file", str(log_path(sup.config.log_dir, name)), inline=False),
            Field("Log", describe_stats(await sup.logs.stats(name)), inline=False),
        ]
        if spec.max_memory is not None:  # max_memory (core/process/memory_limit.py)
            fields.append(Field("Memory limit", memory_limit_text(spec), inline=False))
        if spec.restart_cron is not None:
            fields.append(Field("Scheduled restart", f"{spec.restart_cron} ({spec.restart_cron_timezone})"))
    else:
        w = sup.watched[name]
        fields.append(Field("Watched by", f"pidfile {w.pidfile}" if w.pidfile else f"pattern {w.spec.pattern!r}",
                            inline=False))
    fields += [
        Field("CPU", f"{st.cpu_percent:.1f}%"), Field("Memory (tree)", fmt.size(st.rss_bytes)),
        Field("Processes", str(len(st.tree_pids)) if st.tree_pids else "-"),
        Field("Last exit", f"{fmt.exit_text(st.exit_code, st.signal)} at {fmt.when(st.last_exit_at)}"
              if st.last_exit_at else "-"),
    ]
    if st.message:
        fields.append(Field("Note", st.message, inline=False))
    return Reply(title=f"{name} on {env.host}", tone=STATE_TONE[st.state], fields=fields,
                 data=sup.state(name).snapshot(now))


async def pid(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    """The main pid (supervisorctl's ``pid``), the tree's pids as of the last scan; no program: procbot's."""
    if cmd.target is None:
        me = os.getpid()
        return Reply(title=f"procbot on {env.host}", text=str(me), data={"pid": me, "program": None, "tree": []})
    name = programs[0]
    st = env.supervisor.state(name)
    if not st.state.is_up or not st.pid:
        raise NotRunning(f"`{name}` is not running (state: {st.state.value}): it has no pid.")
    tree = [p for p in st.tree_pids if p != st.pid]
    text = str(st.pid) + (f"\nits processes (last scan): {' '.join(map(str, tree))}" if tree else "")
    return Reply(title=f"pid of {name}", text=text, data={"pid": st.pid, "program": name, "tree": st.tree_pids})


async def _spawn_settings(spec: ProgramSpec, base_dir: Path) -> list[tuple[str, str]]:
    """User, limits, env files and env keys (never values); read in a thread when lookups may block."""
    if spawn_args.blocking(spec):
        return await asyncio.to_thread(spawn_args.describe, spec, base_dir)
    return spawn_args.describe(spec, base_dir)


async def history(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    name = programs[0]
    runs = await env.registry.runs(name, int(cmd.extra.get("n", DEFAULT_HISTORY_RUNS)))
    now = env.clock.time()
    rows = [[fmt.when(r.started_at), fmt.when(r.ended_at) if r.ended_at else "running",
             fmt.duration((r.ended_at or now) - r.started_at),
             fmt.exit_text(r.exit_code, r.signal) if r.ended_at else "-", r.reason or "-", r.started_by]
            for r in runs]
    return Reply(title=f"Recent runs of {name}",
                 table=Table(["STARTED", "ENDED", "RAN", "EXIT", "WHY", "BY"], rows),
                 text="" if rows else "No runs recorded yet.",
                 data={"runs": [r.__dict__ for r in runs]})


def _order_fields(spec: ProgramSpec) -> list[Field]:
    """Instances and start order (issue 11), shown only where they say something."""
    out = []
    if is_instance(spec.name):
        out.append(Field("Instance", f"{spec.name.rpartition(':')[2]} of {spec.instances} ({family(spec.name)})"))
    if spec.depends_on:
        out.append(Field("Starts after", ", ".join(spec.depends_on)))
    if spec.priority != DEFAULT_PRIORITY:
        out.append(Field("Priority", str(spec.priority)))
    return out


def _health_fields(spec: ProgramSpec, st: ProgramState) -> list[Field]:
    if spec.health is None:
        return []
    verdict = {None: "not judged yet", True: "healthy", False: "unhealthy"}[st.healthy]
    last = f"; last probe: {st.health_detail}" if st.health_detail else ""
    return [Field("Health check", f"{describe(spec.health)}; on unhealthy: {spec.on_unhealthy}", inline=False),
            Field("Health", f"{verdict}{last}", inline=False)]


def _detail(st: ProgramState, now: float) -> str:
    if st.state is State.BACKOFF and st.next_start_at:
        return f"restart in {fmt.duration(max(0.0, st.next_start_at - now))} ({fmt.exit_text(st.exit_code, st.signal)})"
    if st.state in (State.EXITED, State.FATAL):
        return f"{fmt.exit_text(st.exit_code, st.signal)}; {st.message}".strip("; ")
    if st.state in (State.SPAWN_ERROR, State.MISSING, State.STOPPED, State.UNHEALTHY):
        return st.message
    if st.restarts:
        return f"{st.restarts} restarts"
    return ""
