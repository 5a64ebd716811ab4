"""SQL for ``incidents`` and ``alert_groups``: what makes alerts idempotent across restarts.

The model (:class:`~core.alerts.incidents.Incident`,
:class:`~core.alerts.incidents.AlertGroup`) lives with the alerts, which
re-export this store, so the alert code reads without SQL in the way.
Columns hold what other readers query (digests list open incidents); the
rest of the state lives in ``state_json`` so it can grow without migrations.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from core.store.registry import Registry

if TYPE_CHECKING:
    from core.alerts.incidents import AlertGroup, Incident

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

    async def _incidents(self, where: str, params: Any) -> list[Incident]:
        from core.alerts.incidents import Incident  # the model imports this store: read it when first needed

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
        from core.alerts.incidents import AlertGroup  # see _incidents

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
