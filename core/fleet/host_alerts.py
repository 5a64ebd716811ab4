"""A silent host is one incident: one message, edited when the host returns, with a note in its thread.

"host web-02 silent since 14:02 (last seen with 40 programs, 2 failing)". The
message goes to every destination the front's alert routes name, through the
front's outbox (so it survives the front's restart like any alert); its dedup
key names the host and the heartbeat it was last seen with, so the same
silence is never announced twice.
"""

from __future__ import annotations

from collections.abc import Callable

from core import formatting as fmt
from core.alerts.outbox import Outbox
from core.clock import Clock
from core.fleet.liveness import HostView
from core.reply import Field, Reply, Tone


def silent_reply(view: HostView) -> Reply:
    hb = view.heartbeat
    failing = f", {hb.failing} failing" if hb.failing else ""
    fields = [Field("failing", ", ".join(hb.failing_names), inline=False)] if hb.failing_names else []
    return Reply(
        title=f"host {view.host} silent since {fmt.stamp(view.seen_at)}",
        text=f"last seen with {hb.programs} programs{failing}. Its programs may still be running: "
             "procbot on the host, or its network, stopped answering.",
        tone=Tone.ERROR, fields=fields, ephemeral=False,
        data={"kind": "host_silent", "host": view.host, "since": view.seen_at},
    )


def back_reply(view: HostView, now: float, silent_for: float) -> Reply:
    hb = view.heartbeat
    return Reply(
        title=f"host {view.host} is back",
        text=f"silent for {fmt.duration(silent_for)}; now {hb.programs} programs, {hb.failing} failing.",
        tone=Tone.OK, ephemeral=False,
        data={"kind": "host_back", "host": view.host, "at": now},
    )


class HostSilenceAlerts:
    def __init__(self, outbox: Outbox, destinations: Callable[[], list[str]], clock: Clock) -> None:
        self.outbox = outbox
        self.destinations = destinations
        self.clock = clock
        #: host -> (destination -> outbox id of the "silent" message)
        self._open: dict[str, dict[str, int]] = {}

    def _key(self, view: HostView, dest: str) -> str:
        return f"fleet-host:{view.host}:silent:{int(view.heartbeat.at)}:{dest}"

    async def silent(self, view: HostView) -> None:
        reply = silent_reply(view)
        ids = {}
        for dest in self.destinations():
            ids[dest] = await self.outbox.post(dest, reply, dedup_key=self._key(view, dest))
        self._open[view.host] = ids

    async def back(self, view: HostView) -> None:
        ids = self._open.pop(view.host, {})
        now = self.clock.time()
        silent_for = now - (view.silent_since or now)
        done = silent_reply(view)
        done.title = f"host {view.host} was silent for {fmt.duration(silent_for)}"
        done.tone = Tone.OK
        for dest, entry in ids.items():
            await self.outbox.update(dest, entry, done)
            await self.outbox.reply(dest, entry, back_reply(view, now, silent_for),
                                    dedup_key=f"fleet-host:{view.host}:back:{int(now)}:{dest}")
