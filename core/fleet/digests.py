"""Fleet digests: a front's scheduled (or asked-for) digest covers every host it knows.

The front asks each host for its *section* by request/reply on the host's own
``procbot.cmd.<host>`` (request kind ``digest``: no new subject, so the shipped
server config already lets only a front ask and each host answer only its own),
all hosts at once, each within the fleet's ``request_timeout``. A host builds its
section with its own :class:`~core.digest.builder.DigestBuilder` from its own
SQLite, exactly as a single host would; the front builds its own locally, and
merges the sections into one message that names every host that did not answer
("db-1 did not answer within 2s.", "web-02 is offline (last seen 3m ago).").
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core import formatting as fmt
from core.actor import Actor, CommandContext
from core.alerts.messages import MAX_DIGEST_ROWS, digest_reply, percent
from core.digest.builder import DigestBuilder
from core.errors import FleetUnavailable, HostOffline, HostTimeout, InvalidInput
from core.fleet.client import FleetClient
from core.fleet.codec import CommandRequest, DigestAsk, decode_digest_ask, encode_digest_ask
from core.fleet.liveness import Liveness
from core.reply import Field, Reply, Table, Tone

#: who asks a host for its section (hosts answer digest requests without a permission check:
#: the server config lets only a front publish on procbot.cmd.*)
DIGEST_CTX = CommandContext(Actor("procbot", "fleet-digest", "procbot fleet digest"))


class DigestSections:
    """Host side: this host's section of a fleet digest (``CommandService.on_kind("digest", ...)``)."""

    def __init__(self, builder: DigestBuilder) -> None:
        self.builder = builder

    async def section(self, ask: DigestAsk) -> Reply:
        return digest_reply(await self.builder.build(ask.name, ask.since, ask.until, ask.programs, ask.timezone))

    async def answer(self, req: CommandRequest) -> Reply:
        try:
            ask = decode_digest_ask(req.text)
        except InvalidInput as e:
            return Reply.error(e)
        return await self.section(ask)


class FleetDigests:
    """Front side: gather every known host's section and merge them with this host's own."""

    def __init__(self, client: FleetClient, liveness: Liveness, host: str, local: DigestSections) -> None:
        self.client = client
        self.liveness = liveness
        self.host = host
        self.local = local

    def defers_to(self) -> str | None:
        """The front that posts scheduled digests instead of this one, or None if this one does.

        With several fronts (same chat app, same ``[[digest]]``), the first by name of the fronts
        heard from and not silent posts; the others record the due time as done. Cut off from each
        other, each posts: a digest may be doubled in a partition, never lost for want of a poster.
        """
        fronts = [v.host for v in self.liveness.hosts() if v.heartbeat.front and not v.silent and v.host != self.host]
        first = min(fronts, default=None)
        return first if first is not None and first < self.host else None

    async def reply(self, name: str, since: float, until: float, programs: Sequence[str] = ("*",),
                    timezone: str | None = None) -> Reply:
        ask = DigestAsk(name, since, until, list(programs), timezone)
        others = [h for h in self.liveness.names() if h != self.host]
        own = await self.local.section(ask)
        if not others:
            return own  # a fleet of one: the single-host digest, unchanged
        answers = await asyncio.gather(*(self._ask(h, ask) for h in others))
        sections, missing = {self.host: own}, {}
        for host, answer in zip(others, answers, strict=True):
            if isinstance(answer, Reply):
                sections[host] = answer
            else:
                missing[host] = answer
        return fleet_digest_reply(ask, sections, missing)

    async def _ask(self, host: str, ask: DigestAsk) -> Reply | str:
        """The host's section, or why there is none (a sentence naming the host)."""
        try:
            reply = await self.client.send(host, encode_digest_ask(ask), DIGEST_CTX, kind="digest")
        except (FleetUnavailable, HostOffline, HostTimeout) as e:
            return str(e)
        if not reply.ok:
            return f"{host} could not build its section: {reply.text}"
        return reply


def fleet_digest_reply(ask: DigestAsk, sections: dict[str, Reply], missing: dict[str, str]) -> Reply:
    """One message for the fleet: totals, a line per host, one table under a HOST column, who did not answer."""
    tz = ask.timezone
    hosts = sorted(sections)
    data = {h: sections[h].data for h in hosts}
    programs = sum(int(d.get("programs", 0)) for d in data.values())
    down = [f"{p}@{h}" for h, d in data.items() for p in d.get("down", [])]
    failures = sum(int(d.get("failures", 0)) for d in data.values())
    restarts = sum(int(d.get("restarts", 0)) for d in data.values())
    weighted = [(float(d["uptime"]), int(d.get("programs", 0))) for d in data.values() if d.get("uptime") is not None]
    weight = sum(n for _, n in weighted)
    overall = sum(u * n for u, n in weighted) / weight if weight else None
    text = (f"{fmt.stamp(ask.since, tz)} to {fmt.stamp(ask.until, tz)} ({fmt.duration(ask.until - ask.since)}). "
            f"{programs} programs on {len(hosts)} hosts: {len(down)} down; average uptime {percent(overall)}; "
            f"{failures} failures, {restarts} automatic restarts.")
    table = _merged_table(sections, hosts)
    if table is not None and len(table.rows) < programs:
        text += (f" The table shows {len(table.rows)} programs, taken in turn from each host's lowest uptime "
                 "or most failures.")
    if missing:
        text += " No section from " + ", ".join(sorted(missing)) + ": " + " ".join(missing[h] for h in sorted(missing))
    fields = [Field(h, _host_line(sections[h]), inline=False) for h in hosts]
    fields += [Field(h, f"no section: {missing[h]}", inline=False) for h in sorted(missing)]
    n = len(hosts) + len(missing)
    return Reply(
        title=f"Digest {ask.name} for the fleet ({n} hosts" + (f", {len(missing)} did not answer)" if missing else ")"),
        text=text,
        tone=Tone.WARN if missing or down or any(sections[h].tone != Tone.OK for h in hosts) else Tone.OK,
        fields=fields,
        table=table,
        ephemeral=False,
        data={"kind": "digest", "name": ask.name, "since": ask.since, "until": ask.until, "programs": programs,
              "down": down, "uptime": overall, "failures": failures, "restarts": restarts,
              "hosts": data, "missing": missing},
    )


def _host_line(section: Reply) -> str:
    d = section.data
    down = list(d.get("down", []))
    line = f"{d.get('programs', 0)} programs, {len(down)} down"
    if down:
        line += " (" + ", ".join(down[:5]) + (", ..." if len(down) > 5 else "") + ")"
    line += (f"; uptime {percent(d.get('uptime'))}; {d.get('failures', 0)} failures, "
             f"{d.get('restarts', 0)} automatic restarts")
    for f in section.fields:
        if f.value != "none":
            line += f"; {f.name.lower()}: {f.value}"
    return line + "."


def _merged_table(sections: dict[str, Reply], hosts: list[str]) -> Table | None:
    """Every section's rows under a HOST column, at most MAX_DIGEST_ROWS, taken in turn from each host
    (each section lists its most interesting programs first), so no host crowds the others out."""
    columns = next((sections[h].table.columns for h in hosts if sections[h].table is not None), None)
    if columns is None:
        return None
    tables = {h: t for h in hosts if (t := sections[h].table) is not None and t.columns == columns}
    taken = dict.fromkeys(tables, 0)
    total = 0
    while total < MAX_DIGEST_ROWS and any(taken[h] < len(t.rows) for h, t in tables.items()):
        for h, t in tables.items():
            if taken[h] < len(t.rows) and total < MAX_DIGEST_ROWS:
                taken[h] += 1
                total += 1
    rows = [[h, *row] for h, t in tables.items() for row in t.rows[:taken[h]]]
    states = [s for h, t in tables.items() for s in (t.states or [""] * len(t.rows))[:taken[h]]]
    return Table(["HOST", *columns], rows, states)
