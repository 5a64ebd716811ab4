"""Alerts, recoveries, grouped alerts and digests as platform-neutral :class:`Reply` objects.

Pure functions of the incident (or digest) and the time: the outbox stores
the result as JSON and each adapter renders it natively (Slack blocks,
Discord embed, console text). Button values are commands that go back
through ``Dispatcher.press`` as the person who pressed, so every press is
permission-checked and audited there.
"""

from __future__ import annotations

from collections.abc import Callable

from core import formatting as fmt
from core.alerts.incidents import AlertGroup, Incident
from core.digest.builder import Digest, ProgramLine
from core.process.states import DOWN_STATES, State
from core.reply import Button, Field, Reply, Table, Tone

LOG_BUTTON_LINES = 50
MAX_GROUP_ROWS = 60
MAX_DIGEST_ROWS = 25

_CAUSE_TITLE = {
    "crashed": "crashed",
    "gave_up": "crashed; procbot gave up restarting it",
    "spawn_failed": "failed to start",
    "watch_lost": "disappeared",
    "orphan_stopped": "was running unconfigured; stopped",
    "memory_limit": "went over max_memory",
    "unhealthy": "unhealthy",
}


def exit_description(inc: Incident) -> str:
    """What happened, in words: "killed by SIGKILL: out of memory?", "exit code 3", ..."""
    if inc.cause == "spawn_failed":
        return inc.message or "could not be started"
    if inc.cause in ("watch_lost", "orphan_stopped"):
        return inc.message or "process not found"
    if inc.cause == "unhealthy":  # "GET /healthz returned 503 three times"
        return inc.message or "failed its health check"
    if inc.cause == "memory_limit":  # "web used 612 MiB > max_memory 512 MiB for 3 samples"
        return inc.message
    if inc.oom_kills:  # counted in its own cgroup: certain, whichever of its processes the kernel chose
        n = inc.oom_kills
        return (f"{_exit(inc)}: out of memory (the kernel's OOM killer ended {n} process{'es' if n > 1 else ''} "
                "of it at memory.max)")
    if inc.signal == "SIGKILL" and inc.oom:
        return f"{_exit(inc)}: out of memory?"
    return _exit(inc) if inc.signal or inc.exit_code is not None else inc.message or "exit status unknown"


def _exit(inc: Incident) -> str:
    if inc.signal:
        return f"killed by {inc.signal}"
    return "ended" if inc.exit_code is None else f"exit code {inc.exit_code}"


def buttons(inc: Incident, *, resolved: bool = False) -> list[Button]:
    """Restart / Logs / Silence 1h for managed programs; only Silence for watched ones."""
    p = inc.program
    out: list[Button] = []
    if inc.kind == "managed":
        if not resolved:
            out.append(Button("Restart", f"cmd:restart {p}", "primary"))
        out.append(Button("Logs", f"cmd:logs {p} {LOG_BUTTON_LINES}"))
    if not resolved:
        out.append(Button("Silence 1h", f"cmd:silence {p} 1h", "danger"))
    return out


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _headline(inc: Incident) -> str:
    what = _CAUSE_TITLE.get(inc.cause, inc.cause)
    if inc.crashes > 1:
        span = fmt.duration(max(0.0, inc.last_failure_at - inc.opened_at))
        verb = {"spawn_failed": "failed", "watch_lost": "failed", "memory_limit": "went over max_memory",
                "unhealthy": "unhealthy"}.get(inc.cause, "crashed")
        tail = "; procbot gave up restarting it" if inc.cause == "gave_up" else ""
        return f"{verb} {inc.crashes} times in {span}{tail}"
    return what


def _data(inc: Incident, kind: str) -> dict[str, object]:
    return {"kind": kind, "incident": inc.id, "program": inc.program, "state": "open" if inc.open else "resolved",
            "crashes": inc.crashes, "cause": inc.cause, "exit": exit_description(inc), "oom": inc.oom,
            "next": inc.next_action, "group_id": inc.group_id}


def incident_reply(inc: Incident, host: str, now: float) -> Reply:
    """The alert message of an incident, as it should read now (posted once, then edited in place)."""
    name = f"{inc.program} ({inc.group})" if inc.group else inc.program
    if not inc.open:
        stopped = inc.resolution.startswith("stopped")
        many = f", {_plural(inc.crashes, 'failure')}" if inc.crashes > 1 else ""
        return Reply(
            title=f"{inc.program} on {host}: {inc.resolution}" if stopped else f"{inc.program} recovered on {host}",
            text=f"Was: {exit_description(inc)}{many}. Resolved after "
                 f"{fmt.duration((inc.resolved_at or now) - inc.opened_at)}: {inc.resolution or 'recovered'}.",
            tone=Tone.OK,
            fields=[Field("Program", name), Field("Host", host), Field("Failures", str(inc.crashes)),
                    Field("Since", fmt.stamp(inc.opened_at))],
            buttons=buttons(inc, resolved=True),
            ephemeral=False,
            data=_data(inc, "alert"),
        )
    unhealthy = inc.cause == "unhealthy"
    fields = [Field("Program", name), Field("Host", host),
              Field("Health" if unhealthy else "Exit", exit_description(inc))]
    if inc.runtime is not None:
        fields.append(Field("Ran for", fmt.duration(inc.runtime)))
    if inc.kind == "managed":
        in_window = f" ({_plural(inc.failures_in_window, 'failure')} in the give-up window)"
        fields.append(Field("Restarts", f"{inc.restarts}{in_window if inc.failures_in_window else ''}"))
    fields.append(Field("Next", inc.next_action or "-"))
    if inc.crashes > 1:
        fields.append(Field("Crashes", f"{inc.crashes} since {fmt.stamp(inc.opened_at)}"))
    # "web used 612 MiB > max_memory 512 MiB for 3 samples: restarting"; "killed by SIGTERM, restart in 1s"
    join = ": " if inc.cause == "memory_limit" else ", "
    next_part = f"{join}{inc.next_action}" if inc.next_action else ""
    lead = f"{inc.program} unhealthy: " if unhealthy else ""  # "web unhealthy: GET /healthz returned 503 ..."
    return Reply(
        title=f"{inc.program} {_headline(inc)} on {host}",
        text=f"{lead}{exit_description(inc)}{next_part}.",
        tone=Tone.ERROR,
        fields=fields,
        code="\n".join(inc.log_lines) if inc.log_lines else None,
        buttons=buttons(inc),
        ephemeral=False,
        data=_data(inc, "alert"),
    )


def recovery_reply(inc: Incident, host: str, now: float) -> Reply:
    """Thread reply under the alert: the program stayed up for its minimum uptime."""
    down = (inc.resolved_at or now) - inc.opened_at
    what = inc.resolution or "running again"
    return Reply(
        title=f"{inc.program} is running again on {host}",
        text=f"{what[:1].upper()}{what[1:]}; the incident lasted {fmt.duration(down)} "
             f"with {_plural(inc.crashes, 'failure')}.",
        tone=Tone.OK,
        ephemeral=False,
        data=_data(inc, "recovery"),
    )


def reminder_reply(inc: Incident, host: str, now: float, *, after_silence: bool = False) -> Reply:
    """A new message for an incident still open after ``repeat_interval`` (or when its silence ended)."""
    base = incident_reply(inc, host, now)
    why = "silence ended" if after_silence else "reminder"
    base.title = f"Still failing: {inc.program} on {host} ({why})"
    base.text = (f"Failing since {fmt.stamp(inc.opened_at)} ({fmt.duration(now - inc.opened_at)}); "
                 f"{_headline(inc)}. Last: {base.text}")
    base.data = _data(inc, "reminder")
    return base


def group_reply(grp: AlertGroup, members: list[Incident], host: str, now: float) -> Reply:
    """One message for a storm: a row per program, edited as programs recover."""
    still = [m for m in members if m.open]
    rows, states = [], []
    for m in members[:MAX_GROUP_ROWS]:
        rows.append([m.program, "failing" if m.open else "recovered", exit_description(m),
                     m.next_action if m.open else (m.resolution or "recovered")])
        states.append("crashed" if m.open else "running")
    more = len(members) - len(rows)
    span = fmt.duration(max(0.0, grp.last_join_at - grp.opened_at))
    if still:
        title = f"{len(members)} programs failed on {host} within {span}"
        text = f"{len(still)} still failing, {len(members) - len(still)} recovered."
        tone = Tone.ERROR
    else:
        title = f"{len(members)} programs failed on {host} within {span}: all recovered"
        text = f"All recovered after {fmt.duration((grp.resolved_at or now) - grp.opened_at)}."
        tone = Tone.OK
    if more > 0:
        text += f" {more} more not shown; `status` lists them all."
    return Reply(
        title=title,
        text=text,
        tone=tone,
        table=Table(["PROGRAM", "STATE", "EXIT", "NEXT"], rows, states),
        buttons=[Button("Status", "cmd:status")],
        ephemeral=False,
        data={"kind": "group", "group_id": grp.id, "programs": [m.program for m in members],
              "failing": [m.program for m in still]},
    )


def group_recovery_reply(grp: AlertGroup, members: list[Incident], host: str, now: float) -> Reply:
    return Reply(
        title=f"All {len(members)} programs are running again on {host}",
        text=f"The storm lasted {fmt.duration((grp.resolved_at or now) - grp.opened_at)}.",
        tone=Tone.OK,
        ephemeral=False,
        data={"kind": "group_recovery", "group_id": grp.id, "programs": [m.program for m in members]},
    )


def group_reminder_reply(grp: AlertGroup, members: list[Incident], host: str, now: float) -> Reply:
    base = group_reply(grp, members, host, now)
    still = [m.program for m in members if m.open]
    base.title = f"Still failing on {host}: {len(still)} of {len(members)} programs (reminder)"
    base.data = {**base.data, "kind": "group_reminder"}
    return base


def percent(fraction: float | None) -> str:
    if fraction is None:
        return "-"
    if fraction >= 1.0:
        return "100%"
    return f"{min(fraction * 100, 99.99):.2f}%" if fraction > 0.99 else f"{fraction * 100:.1f}%"


def _usage(avg: float | None, peak: float | None, render: Callable[[float], str]) -> str:
    if avg is None or peak is None:
        return "-"
    return f"{render(avg)} / {render(peak)}"


def _digest_row(p: ProgramLine) -> list[str]:
    return [
        p.name, p.state, percent(p.uptime), str(p.crashes), str(p.restarts),
        _usage(p.cpu_avg, p.cpu_max, lambda v: f"{v:.1f}%"),
        _usage(p.rss_avg, p.rss_max, fmt.size),
    ]


def _interest(p: ProgramLine) -> tuple[float, int, str]:
    """Sort key: the programs a reader should look at first (least up, most crashes)."""
    return (p.uptime if p.uptime is not None else 2.0, -p.crashes, p.name)


def digest_reply(d: Digest) -> Reply:
    """A digest as one message: summary line, top crashers, open incidents, silences, a table.

    Times are chat stamps (each reader's own zone on Slack and Discord) written out in the
    digest's ``timezone`` wherever a platform cannot show them so (console, CLI, notifications).
    """
    tz = d.timezone
    down = [p for p in d.programs if p.state in DOWN_STATES]
    known = [p.uptime for p in d.programs if p.uptime is not None]
    overall = sum(known) / len(known) if known else None
    stopped = [p for p in d.programs if p.state == State.STOPPED]
    up = len(d.programs) - len(down) - len(stopped)
    counts = f"{up} up or starting, " + (f"{len(stopped)} stopped, " if stopped else "") + f"{len(down)} down"
    summary = (f"{len(d.programs)} programs: {counts}; "
               f"average uptime {percent(overall)}; {d.crashes} failures, {d.restarts} automatic restarts.")
    tops = ", ".join(f"{p.name} ({p.crashes})" for p in d.top_crashers) or "none"
    incidents = "; ".join(f"{i.program} since {fmt.stamp(i.opened_at, tz)} ({i.crashes} failures)"
                          for i in d.open_incidents[:10]) or "none"
    if len(d.open_incidents) > 10:
        incidents += f"; and {len(d.open_incidents) - 10} more"
    silences = "; ".join(f"{s.target} until {fmt.stamp(s.until, tz)}" + (f" ({s.reason})" if s.reason else "")
                         for s in d.silences[:10]) or "none"
    ordered = sorted(d.programs, key=_interest)
    shown = ordered[:MAX_DIGEST_ROWS]
    text = f"{fmt.stamp(d.since, tz)} to {fmt.stamp(d.until, tz)} ({fmt.duration(d.until - d.since)}). {summary}"
    if len(ordered) > len(shown):
        text += f" The table shows the {len(shown)} programs with the lowest uptime or most failures."
    return Reply(
        title=f"Digest {d.name} for {d.host}",
        text=text,
        tone=Tone.WARN if down or d.open_incidents else Tone.OK,
        fields=[Field("Top crashers", tops, inline=False), Field("Open incidents", incidents, inline=False),
                Field("Active silences", silences, inline=False)],
        table=Table(["PROGRAM", "STATE", "UPTIME", "FAILURES", "RESTARTS", "CPU avg/peak", "MEM avg/peak"],
                    [_digest_row(p) for p in shown], [p.state for p in shown]),
        ephemeral=False,
        data={"kind": "digest", "name": d.name, "since": d.since, "until": d.until, "programs": len(d.programs),
              "down": [p.name for p in down], "uptime": overall, "failures": d.crashes, "restarts": d.restarts,
              "top_crashers": [[p.name, p.crashes] for p in d.top_crashers],
              "open_incidents": [i.program for i in d.open_incidents],
              "rows": {p.name: {"uptime": p.uptime, "failures": p.crashes, "restarts": p.restarts}
                       for p in shown}},
    )
