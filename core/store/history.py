"""What happened, kept: runs (``history``), lifecycle events (digests) and the audit log (``audit``).

One family because the three are append-mostly records of the past that
nothing reads back to decide what to do next (except the open runs at
start-up), and all three are pruned by age. The queries a digest needs over
runs and events live here too, so the digest builder holds no SQL.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.store.db import RegistryConnection


@dataclass(frozen=True)
class RunRow:
    id: int
    program: str
    pid: int
    start_ticks: int
    started_at: float
    ended_at: float | None
    exit_code: int | None
    signal: str | None
    reason: str | None
    started_by: str
    adopted: bool
    nonce: str = ""


@dataclass(frozen=True)
class RunStart:
    """A spawn (or an adoption) to record."""

    program: str
    pid: int
    start_ticks: int
    at: float
    by: str
    nonce: str
    adopted: bool = False


@dataclass(frozen=True)
class RunEnd:
    nonce: str
    at: float
    exit_code: int | None
    signal: str | None
    reason: str


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: float
    platform: str
    user_id: str
    user_name: str
    channel: str | None
    command: str
    outcome: str
    detail: str
    #: the host the command was for (comma-separated when a front refused several); '' before schema 4
    host: str = ""


_AUDIT_COLUMNS = "id, at, platform, user_id, user_name, channel, command, outcome, detail, host"

_RUN_INSERT = ("INSERT INTO runs(program, pid, start_ticks, started_at, started_by, adopted, nonce) "
               "VALUES (?,?,?,?,?,?,?) ON CONFLICT(nonce) DO NOTHING")


_RUN_END = "UPDATE runs SET ended_at=?, exit_code=?, signal=?, reason=? WHERE nonce=? AND ended_at IS NULL"


def _run_insert_params(c: RunStart) -> tuple[Any, ...]:
    return (c.program, c.pid, c.start_ticks, c.at, c.by, int(c.adopted), c.nonce)


def _run_row(r: Sequence[Any]) -> RunRow:
    return RunRow(*r[:10], adopted=bool(r[10]), nonce=r[11] or "")


def open_runs_in(path: Path) -> list[tuple[int, int]]:
    """(pid, start ticks) of the runs still open in the registry file at ``path``, read without a Registry.

    For tools outside the daemon (the fleet demo) that tidy up the programs of a procbot killed
    with -9; a missing file has no runs.
    """
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path, timeout=2)) as conn:
        rows = conn.execute("SELECT pid, start_ticks FROM runs WHERE ended_at IS NULL ORDER BY id").fetchall()
    return [(int(pid), int(ticks)) for pid, ticks in rows]


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


class History(RegistryConnection):
    """Queries of the ``runs``, ``events`` and ``audit`` tables (a part of :class:`core.store.registry.Registry`)."""

    # -- runs ------------------------------------------------------------
    # A run is keyed by its nonce (made before the spawn, carried in the child's environment), so
    # its INSERT may land late and its UPDATE replays against it without a DB-assigned id.
    async def run_started(
        self, program: str, pid: int, start_ticks: int, at: float, by: str, adopted: bool = False,
        nonce: str | None = None,
    ) -> int:
        return await self.execute(_RUN_INSERT, _run_insert_params(
            RunStart(program, pid, start_ticks, at, by, nonce or secrets.token_hex(6), adopted)))

    async def run_ended(
        self, run: int | str, at: float, exit_code: int | None, signal: str | None, reason: str
    ) -> None:
        """End a run, named by its nonce (or, for callers from before nonces, its row id)."""
        key = "nonce" if isinstance(run, str) else "id"
        await self.execute(
            f"UPDATE runs SET ended_at=?, exit_code=?, signal=?, reason=? WHERE {key}=? AND ended_at IS NULL",
            (at, exit_code, signal, reason, run),
        )

    async def record_runs(self, changes: Sequence[RunStart | RunEnd]) -> None:
        """Starts and ends in order; each stretch of one kind is one executemany (one commit, one
        round trip to the SQLite thread): a thousand stops cost one write, not a thousand."""
        i = 0
        while i < len(changes):
            kind = type(changes[i])
            j = i
            while j < len(changes) and type(changes[j]) is kind:
                j += 1
            if kind is RunStart:
                await self.execute_many(_RUN_INSERT, [_run_insert_params(c) for c in changes[i:j]])  # type: ignore[arg-type]
            else:
                await self.execute_many(_RUN_END, [(c.at, c.exit_code, c.signal, c.reason, c.nonce)  # type: ignore[union-attr]
                                                   for c in changes[i:j]])
            i = j

    async def open_runs(self) -> list[RunRow]:
        rows = await self.fetch_all("SELECT * FROM runs WHERE ended_at IS NULL ORDER BY id")
        return [_run_row(r) for r in rows]

    async def runs(self, program: str, limit: int = 20) -> list[RunRow]:
        rows = await self.fetch_all(
            "SELECT * FROM runs WHERE program=? ORDER BY id DESC LIMIT ?", (program, limit)
        )
        return [_run_row(r) for r in rows]

    async def run_seconds(self, since: float, until: float) -> dict[str, float]:
        """Seconds each program's runs overlap [since, until) (a digest's uptime where no samples exist)."""
        rows = await self.fetch_all(
            "SELECT program, SUM(MIN(COALESCE(ended_at, ?), ?) - MAX(started_at, ?)) FROM runs "
            "WHERE started_at < ? AND (ended_at IS NULL OR ended_at > ?) GROUP BY program",
            (until, until, since, until, since),
        )
        return {str(p): max(0.0, float(s or 0.0)) for p, s in rows}

    async def prune_runs(self, before: float, keep_per_program: int) -> int:
        """Forget runs that ended before ``before``, except the newest ``keep_per_program`` of each program.

        Open runs are never touched (they are what makes a live child known).
        Deletes in short chunks so other writers (a start, an alert) wait at most one chunk.
        """
        return await self.delete_in_chunks(
            "DELETE FROM runs WHERE id IN (SELECT id FROM (SELECT id, ended_at, ROW_NUMBER() OVER "
            "(PARTITION BY program ORDER BY id DESC) AS newest FROM runs) "
            "WHERE ended_at IS NOT NULL AND ended_at < ? AND newest > ? LIMIT ?)",
            (before, keep_per_program),
        )

    # -- events ----------------------------------------------------------
    async def add_events(self, rows: list[tuple[float, str, str, dict[str, Any]]]) -> None:
        await self.execute_many(
            "INSERT INTO events(at, program, kind, detail_json) VALUES (?,?,?,?)",
            [(at, p, k, json.dumps(d, default=str)) for at, p, k, d in rows],
        )

    async def first_event_at(self) -> float | None:
        """When procbot first recorded anything (before it, nothing was watched: not downtime)."""
        rows = await self.fetch_all("SELECT MIN(at) FROM events")
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    async def failures_and_restarts(
        self, since: float, until: float, failure_kinds: Sequence[str], restarted_by: str
    ) -> dict[str, tuple[int, int]]:
        """Per program, events in [since, until): (how many of ``failure_kinds``, how many starts
        made by ``restarted_by``)."""
        kinds = [*failure_kinds, "started"]
        rows = await self.fetch_all(
            f"SELECT program, SUM(kind IN ({_marks(failure_kinds)})), "
            "SUM(kind = 'started' AND json_extract(detail_json, '$.by') = ?) "
            f"FROM events WHERE at >= ? AND at < ? AND kind IN ({_marks(kinds)}) GROUP BY program",
            (*failure_kinds, restarted_by, since, until, *kinds),
        )
        return {str(p): (int(c or 0), int(r or 0)) for p, c, r in rows}

    async def prune_events(self, before: float) -> None:
        await self.execute("DELETE FROM events WHERE at < ?", (before,))

    # -- audit -----------------------------------------------------------
    async def audit(
        self,
        at: float,
        platform: str,
        user_id: str,
        user_name: str,
        channel: str | None,
        command: str,
        outcome: str,
        detail: str = "",
        host: str = "",
    ) -> int:
        return await self.execute(
            "INSERT INTO audit(at, platform, user_id, user_name, channel, command, outcome, detail, host) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (at, platform, user_id, user_name, channel, command, outcome, detail, host),
        )

    async def audit_rows(self, limit: int = 20) -> list[AuditRow]:
        rows = await self.fetch_all(f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [AuditRow(*r) for r in rows]

    async def audit_page(
        self, limit: int, offset: int = 0, *, platform: str | None = None, user: str | None = None,
        program: str | None = None, outcome: str | None = None, since: float | None = None,
        host: str | None = None,
    ) -> tuple[list[AuditRow], int]:
        """One page of audit rows, newest first, and how many rows match in all.

        ``user`` matches the ID or the name; ``program`` matches a whole word of the command
        (commands are stored normalised, one space between words); ``host`` one of the row's hosts.
        """
        where, params = [], []
        for column, value in (("platform", platform), ("outcome", outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if user is not None:
            where.append("(user_id = ? OR user_name = ?)")
            params += [user, user]
        if program is not None:
            where.append("instr(' ' || command || ' ', ?) > 0")
            params.append(f" {program} ")
        if host is not None:
            where.append("instr(',' || host || ',', ?) > 0")
            params.append(f",{host},")
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        total = await self.fetch_all(f"SELECT COUNT(*) FROM audit{cond}", params)
        rows = await self.fetch_all(f"SELECT {_AUDIT_COLUMNS} FROM audit{cond} ORDER BY id DESC LIMIT ? OFFSET ?",
                                    [*params, limit, offset])
        return [AuditRow(*r) for r in rows], int(total[0][0])

    async def prune_audit(self, before: float, keep_rows: int) -> int:
        """Forget audit rows older than ``before``, and all but the newest ``keep_rows``."""
        return await self.delete_in_chunks(
            "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? OR id <= "
            "(SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?) ORDER BY id LIMIT ?)",
            (before, keep_rows),
        )
