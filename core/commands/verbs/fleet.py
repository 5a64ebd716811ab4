"""hosts: the fleet's hosts, their state, version, programs, failing programs and last heartbeat.

On a front the rows come from its liveness view (``env.fleet``, plugged in by the fleet
install); on a single host, or a member that is not a front, it is this host alone.
"""

from __future__ import annotations

from core import formatting as fmt
from core.actor import CommandContext
from core.commands.grammar import Command
from core.commands.verbs import Services
from core.fleet.hosts import SILENT, UP, HostRow, procbot_version
from core.process.states import FAILED_STATES
from core.reply import Reply, Table, Tone

#: failing program names shown in a row (the count is always whole)
SHOWN_FAILING = 3


def this_host(env: Services) -> HostRow:
    states = env.supervisor.states()
    failing = sorted(s.name for s in states if s.state in FAILED_STATES)
    return HostRow(env.host, UP, procbot_version(), len(states), failing, len(failing), here=True)


async def hosts(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    now = env.clock.time()
    if env.fleet is None:
        rows, notes = [this_host(env)], ["No [cluster] here: this host alone."]
    else:
        rows, notes = env.fleet.host_rows(this_host(env), now)
    silent = [r.host for r in rows if r.state == SILENT]
    failing = sum(r.failing for r in rows)
    summary = f"{len(rows)} host{'s' if len(rows) != 1 else ''}: {len(rows) - len(silent)} up"
    summary += f", {len(silent)} silent ({', '.join(silent)})" if silent else ""
    summary += f"; {failing} failing program{'s' if failing != 1 else ''}" if failing else ""
    return Reply(
        title=f"Hosts seen from {env.host}",
        text=summary + "".join(f"\n{n}" for n in notes),
        tone=Tone.WARN if silent or failing else Tone.OK,
        table=Table(["HOST", "STATE", "VERSION", "PROGRAMS", "FAILING", "LAST SEEN"],
                    [_row(r) for r in rows], [_colour(r) for r in rows]),
        data={"hosts": [{"host": r.host, "state": r.state, "version": r.version, "programs": r.programs,
                         "failing": r.failing, "failing_names": r.failing_names, "seen_ago": r.seen_ago,
                         "front": r.front} for r in rows], "silent": silent},
    )


def _row(r: HostRow) -> list[str]:
    name = r.host + (" (front)" if r.front else "")
    failing = str(r.failing)
    if r.failing_names:
        failing += " (" + ", ".join(r.failing_names[:SHOWN_FAILING]) + (", ..." if r.failing > SHOWN_FAILING else "")
        failing += ")"
    seen = "now" if r.here else fmt.ago(r.seen_ago)
    return [name, r.state, r.version or "?", str(r.programs), failing, seen]


def _colour(r: HostRow) -> str:
    """A row's emoji, in program-state words the renderers know: silent red, failing orange, else green."""
    if r.state == SILENT:
        return "fatal"
    return "backoff" if r.failing else "running"
