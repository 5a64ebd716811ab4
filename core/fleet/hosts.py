"""What ``/proc hosts`` shows of each host, and the rows a front reads off its liveness view.

Kept free of NATS (no nats-py import): the ``hosts`` verb handler imports it on a single
host too, where it lists just this host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.fleet.liveness import HostView, Liveness

UP = "up"
SILENT = "silent"


@cache
def procbot_version() -> str:
    """This procbot's version, as its heartbeat and ``hosts`` report it ("" when not installed as a package)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("procbot")
    except PackageNotFoundError:
        return ""


@dataclass(frozen=True)
class HostRow:
    host: str
    #: ``up`` or ``silent``
    state: str
    version: str
    programs: int
    #: names of the failing programs (a heartbeat carries at most 20, ``failing`` the true count)
    failing_names: list[str] = field(default_factory=list)
    failing: int = 0
    #: seconds since the front last heard from it; 0 for the host answering
    seen_ago: float = 0.0
    front: bool = False
    #: this is the host answering (its row is live, not a heartbeat)
    here: bool = False


def fleet_rows(views: list[HostView], here: HostRow, now: float) -> list[HostRow]:
    """One row per host the front has heard from, sorted by name; this host's row is ``here`` (live)."""
    rows = {here.host: here}
    for v in views:
        if v.host == here.host:
            continue
        hb = v.heartbeat
        rows[v.host] = HostRow(v.host, SILENT if v.silent else UP, hb.version, hb.programs,
                               list(hb.failing_names), hb.failing, max(0.0, now - v.seen_at), hb.front)
    return [rows[h] for h in sorted(rows)]


class FleetHosts:
    """The ``hosts`` view of one fleet member: a front lists every host it has heard from; another
    member lists itself and says where the fleet's list is."""

    def __init__(self, liveness: Liveness, *, front: bool, link_note: Callable[[], str | None]) -> None:
        self.liveness = liveness
        self.front = front
        self.link_note = link_note

    def host_rows(self, here: HostRow, now: float) -> tuple[list[HostRow], list[str]]:
        here = replace(here, front=self.front)
        notes = []
        link = self.link_note()
        if link:
            notes.append(f"{link}: the other hosts' rows are as of the link going down.")
        if not self.front:
            return [here], [*notes, f"{here.host} is not a front: a front lists the whole fleet."]
        return fleet_rows(self.liveness.hosts(), here, now), notes
