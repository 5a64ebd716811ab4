"""The console adapter: events and alerts as readable lines in the terminal.

It needs no token, so the embedded demo shows crashes, restarts, alerts and
digests with nothing configured. It is also the ``console`` destination of
alert routes.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from adapters.base import Adapter
from adapters.text_render import render
from core import formatting as fmt
from core.process.events import EventBus, EventKind, ProgramEvent
from core.reply import Reply

_ICON = {
    EventKind.STARTED: "▶", EventKind.RUNNING: "●", EventKind.EXITED: "■", EventKind.CRASHED: "✗",
    EventKind.SPAWN_FAILED: "✗", EventKind.GAVE_UP: "☠", EventKind.STOPPED: "■",
    EventKind.WATCH_LOST: "✗", EventKind.WATCH_FOUND: "●", EventKind.UNHEALTHY: "✗", EventKind.HEALTHY: "●",
}


def event_line(ev: ProgramEvent) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(ev.at))
    parts = [f"{stamp} {_ICON.get(ev.kind, '·')} {ev.program:<14} {ev.kind.value}"]
    if ev.pid:
        parts.append(f"pid={ev.pid}")
    if ev.kind in (EventKind.CRASHED, EventKind.EXITED, EventKind.GAVE_UP):
        parts.append(fmt.exit_text(ev.exit_code, ev.signal) if ev.message != "exit status unknown (adopted process)"
                     else ev.message)
        if ev.runtime is not None:
            parts.append(f"after {fmt.duration(ev.runtime)}")
    if ev.next_action:
        parts.append(f"-> {ev.next_action}")
    if ev.kind in (EventKind.SPAWN_FAILED, EventKind.MEMORY_LIMIT, EventKind.UNHEALTHY, EventKind.HEALTHY) \
            and ev.message:
        parts.append(ev.message)
    if ev.by and ev.kind in (EventKind.STARTED, EventKind.STOPPED) and not ev.by.startswith("procbot"):
        parts.append(f"by {ev.by}")
    return "  ".join(parts)


class ConsoleAdapter(Adapter):
    """Always connected: a session is the loop that prints events, for as long as procbot runs."""

    platform = "console"

    def __init__(self, bus: EventBus, out: TextIO | None = None, show_events: bool = True) -> None:
        super().__init__()
        self.bus = bus
        self.out = out or sys.stdout
        self.show_events = show_events
        self._queue = bus.subscribe() if show_events else None
        self._refs = 0

    async def _session(self) -> None:
        self._set_connected(True)
        if self._queue is None:
            await super()._session()
            return
        while True:
            ev = await self._queue.get()
            self._write(event_line(ev))

    async def _close(self) -> None:
        if self._queue is not None:
            self.bus.unsubscribe(self._queue)

    def _write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- Messenger -------------------------------------------------------
    async def post(self, channel: str, reply: Reply, thread_ref: str | None = None) -> str:
        self._refs += 1
        prefix = "  ↳ " if thread_ref else ""
        body = render(reply)
        self._write("\n".join(prefix + line if prefix else line for line in ["─" * 60, *body.splitlines()]))
        return f"console:{self._refs}"

    async def update(self, channel: str, ref: str, reply: Reply) -> None:
        body = render(reply)
        self._write("\n".join(["─" * 60 + " (updated)", *body.splitlines()]))
