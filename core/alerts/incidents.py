"""Incidents (one per crash episode of a program) and alert groups (storms), persisted.

An incident is what makes alerts idempotent across restarts: it is written
before any message is queued, and remembers the outbox entries of the
messages it produced (``roots``), so a restarted procbot updates the same
chat message instead of posting a new one.

Columns hold what other readers query (digests list open incidents); the
rest of the state lives in ``state_json`` so it can grow without migrations.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from core.store.registry import Registry

#: event kinds that open or extend an incident
FAILURE_KINDS = ("crashed", "gave_up", "spawn_failed", "watch_lost", "orphan_stopped")


@dataclass
class Incident:
    program: str
    opened_at: float
    updated_at: float
    group: str | None = None
    kind: str = "managed"                 # managed | watched
    id: int = 0
    resolved_at: float | None = None
    resolution: str = ""                  # "running again", "stopped by slack:U1", ...
    crashes: int = 1
    last_failure_at: float = 0.0
    cause: str = "crashed"                # kind of the last failure event
    exit_code: int | None = None
    signal: str | None = None
    oom: bool = False                     # SIGKILL and the kernel's OOM-kill counter moved
    runtime: float | None = None
    restarts: int = 0
    failures_in_window: int = 0
    next_action: str = ""
    message: str = ""
    pid: int | None = None
    log_lines: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)
    roots: dict[str, int] = field(default_factory=dict)        # destination -> outbox id of the alert
    recoveries: dict[str, int] = field(default_factory=dict)   # destination -> outbox id of the thread reply
    group_id: int | None = None           # folded into this alert group (storm)
    held: bool = False                    # waiting briefly to see whether a storm is starting
    suppressed: bool = False              # a message was held back by a silence
    announced_at: float | None = None     # last time a new message (alert or reminder) was posted
    reminders: int = 0
    reopened: int = 0

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @property
    def posted(self) -> bool:
        return bool(self.roots)


@dataclass
class AlertGroup:
    """One alert for many programs failing together on the same route."""

    opened_at: float
    updated_at: float
    destinations: list[str]
    id: int = 0
    resolved_at: float | None = None
    members: list[int] = field(default_factory=list)           # incident ids, in joining order
    roots: dict[str, int] = field(default_factory=dict)
    recoveries: dict[str, int] = field(default_factory=dict)
    last_join_at: float = 0.0
    announced_at: float | None = None
    reminders: int = 0

    @property
    def route_key(self) -> tuple[str, ...]:
        return tuple(self.destinations)


_INCIDENT_COLUMNS = {"id", "program", "opened_at", "updated_at", "resolved_at", "crashes", "announced_at"}
_GROUP_COLUMNS = {"id", "opened_at", "updated_at", "resolved_at"}


def _state(obj: Any, columns: set[str]) -> str:
    return json.dumps({k: v for k, v in dataclasses.asdict(obj).items() if k not in columns})


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _int_keys(d: dict[str, Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in d.items()}


class IncidentStore:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    # -- incidents -------------------------------------------------------
    async def create(self, inc: Incident) -> Incident:
        inc.id = await self.registry.execute(
            "INSERT INTO incidents(program, opened_at, updated_at, resolved_at, crashes, state_json, announced_at) "
            "VALUES (?,?,?,?,?,?,?)",
            (inc.program, inc.opened_at, inc.updated_at, inc.resolved_at, inc.crashes,
             _state(inc, _INCIDENT_COLUMNS), inc.announced_at),
        )
        return inc

    async def save(self, inc: Incident) -> None:
        await self.registry.execute(
            "UPDATE incidents SET updated_at=?, resolved_at=?, crashes=?, state_json=?, announced_at=? WHERE id=?",
            (inc.updated_at, inc.resolved_at, inc.crashes, _state(inc, _INCIDENT_COLUMNS), inc.announced_at,
             inc.id),
        )

    async def open_incidents(self) -> list[Incident]:
        return await self._incidents("WHERE resolved_at IS NULL ORDER BY id", ())

    async def by_ids(self, ids: list[int]) -> list[Incident]:
        if not ids:
            return []
        return await self._incidents(f"WHERE id IN ({','.join('?' * len(ids))}) ORDER BY id", ids)

    async def latest(self, program: str) -> Incident | None:
        found = await self._incidents("WHERE program=? ORDER BY id DESC LIMIT 1", (program,))
        return found[0] if found else None

    async def opened_between(self, since: float, until: float) -> list[Incident]:
        return await self._incidents("WHERE opened_at >= ? AND opened_at < ? ORDER BY id", (since, until))

    async def _incidents(self, where: str, params: Any) -> list[Incident]:
        rows = await self.registry.fetch_all(
            "SELECT id, program, opened_at, updated_at, resolved_at, crashes, announced_at, state_json "
            f"FROM incidents {where}",
            params,
        )
        out = []
        for id_, program, opened, updated, resolved, crashes, announced, state in rows:
            data = _known(Incident, json.loads(state))
            data["roots"] = _int_keys(data.get("roots", {}))
            data["recoveries"] = _int_keys(data.get("recoveries", {}))
            out.append(Incident(program=program, opened_at=opened, updated_at=updated, id=id_,
                                resolved_at=resolved, crashes=crashes, announced_at=announced, **data))
        return out

    # -- alert groups ----------------------------------------------------
    async def create_group(self, grp: AlertGroup) -> AlertGroup:
        grp.id = await self.registry.execute(
            "INSERT INTO alert_groups(opened_at, updated_at, resolved_at, state_json) VALUES (?,?,?,?)",
            (grp.opened_at, grp.updated_at, grp.resolved_at, _state(grp, _GROUP_COLUMNS)),
        )
        return grp

    async def save_group(self, grp: AlertGroup) -> None:
        await self.registry.execute(
            "UPDATE alert_groups SET updated_at=?, resolved_at=?, state_json=? WHERE id=?",
            (grp.updated_at, grp.resolved_at, _state(grp, _GROUP_COLUMNS), grp.id),
        )

    async def open_groups(self) -> list[AlertGroup]:
        rows = await self.registry.fetch_all(
            "SELECT id, opened_at, updated_at, resolved_at, state_json FROM alert_groups "
            "WHERE resolved_at IS NULL ORDER BY id"
        )
        out = []
        for id_, opened, updated, resolved, state in rows:
            data = _known(AlertGroup, json.loads(state))
            data["roots"] = _int_keys(data.get("roots", {}))
            data["recoveries"] = _int_keys(data.get("recoveries", {}))
            out.append(AlertGroup(opened_at=opened, updated_at=updated, id=id_, resolved_at=resolved, **data))
        return out
