"""signal: send a signal to the main process of each program of a target (supervisorctl's ``signal``).

The main process only, like supervisorctl: ``HUP`` to a server's master is
what makes it reload, and the master decides what its workers get. A stop
is what signals the whole process group. The name has been checked against
the catalog's ``SIGNALS`` by the grammar; a program that is not up is a
clear error for that program, the others are still signalled.
"""

from __future__ import annotations

import signal as _signal

from core.actor import CommandContext
from core.commands.grammar import Command
from core.commands.verbs import Services
from core.errors import ProcbotError
from core.reply import Reply, Tone


async def signal(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    name = f"SIG{cmd.extra['signal']}"
    sig = _signal.Signals[name]
    results: list[tuple[str, bool, str]] = []
    for program in programs:  # each is one system call: nothing to run side by side
        try:
            pid = env.supervisor.runner(program).send_signal(sig)
        except ProcbotError as e:
            results.append((program, False, str(e)))
        else:
            results.append((program, True, f"{name} sent to pid {pid}"))
    ok = [r for r in results if r[1]]
    data = {"signal": name, "results": [{"program": n, "ok": good, "message": m} for n, good, m in results]}
    if len(results) == 1:
        program, good, msg = results[0]
        if not good:
            return Reply(title=f"Could not signal {program}", text=msg, tone=Tone.ERROR, ok=False,
                         error_code="action_failed", data=data)
        return Reply(title=f"Sent {name} to {program}", text=msg, tone=Tone.OK, data=data)
    failed = len(results) - len(ok)
    return Reply(title=f"{name}: {len(ok)} of {len(results)} signalled",
                 text="\n".join(f"{'✓' if good else '✗'} {n}: {m}" for n, good, m in results),
                 tone=Tone.OK if not failed else (Tone.ERROR if not ok else Tone.WARN), ok=not failed, data=data)
