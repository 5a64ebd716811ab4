"""The SQLite registry: one writer connection, WAL, forward migrations.

History lives here (runs, events, samples, audit, outbox); the config stays
the source of truth for program specs, which are mirrored into ``programs``
so history queries can join on them. A disk that refuses writes, or a
file that goes missing, never reaches these callers: see
:mod:`core.store.db` (and its note on durability).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import RegistryError
from core.store.db import PRUNE_CHUNK, RegistryConnection
from core.store.health import RegistryHealth
from core.store.standin import LiveRun, LiveState

__all__ = ["AuditRow", "LiveRun", "LiveState", "Registry", "RegistryHealth", "RunRow", "SampleRow"]


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


_RUN_INSERT = ("INSERT INTO runs(program, pid, start_ticks, started_at, started_by, adopted, nonce) "
               "VALUES (?,?,?,?,?,?,?) ON CONFLICT(nonce) DO NOTHING")


_RUN_END = "UPDATE runs SET ended_at=?, exit_code=?, signal=?, reason=? WHERE nonce=? AND ended_at IS NULL"


def _run_insert_params(c: RunStart) -> tuple[Any, ...]:
    return (c.program, c.pid, c.start_ticks, c.at, c.by, int(c.adopted), c.nonce)


def _run_row(r: Sequence[Any]) -> RunRow:
    return RunRow(*r[:10], adopted=bool(r[10]), nonce=r[11] or "")


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


@dataclass(frozen=True)
class SampleRow:
    program: str
    at: float
    span: float
    n: int
    cpu_avg: float
    cpu_max: float
    rss_avg: float
    rss_max: int
    up_n: int

class Registry(RegistryConnection):
    """The registry's queries: programs, runs, events, samples, audit (the connection is in the base)."""

    # -- programs --------------------------------------------------------
    async def sync_programs(self, specs: list[tuple[str, str, str, str | None]], now: float) -> None:
        """Mirror config specs: (name, kind, spec_json, group). Names no longer configured are removed."""
        names = [s[0] for s in specs]
        await self.execute_many(
            "INSERT INTO programs(name, kind, spec_json, grp, updated_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET kind=excluded.kind, spec_json=excluded.spec_json, "
            "grp=excluded.grp, updated_at=excluded.updated_at",
            [(n, k, j, g, now) for n, k, j, g in specs],
        )
        marks = ",".join("?" * len(names)) or "''"
        await self.execute(f"DELETE FROM programs WHERE name NOT IN ({marks})", names)

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

    async def runs_between(self, since: float, until: float) -> list[RunRow]:
        rows = await self.fetch_all(
            "SELECT * FROM runs WHERE started_at < ? AND (ended_at IS NULL OR ended_at >= ?) ORDER BY id",
            (until, since),
        )
        return [_run_row(r) for r in rows]

    # -- events ----------------------------------------------------------
    async def add_events(self, rows: list[tuple[float, str, str, dict[str, Any]]]) -> None:
        await self.execute_many(
            "INSERT INTO events(at, program, kind, detail_json) VALUES (?,?,?,?)",
            [(at, p, k, json.dumps(d, default=str)) for at, p, k, d in rows],
        )

    async def events(
        self, program: str | None = None, since: float = 0.0, limit: int = 100, kinds: Sequence[str] = ()
    ) -> list[tuple[float, str, str, dict[str, Any]]]:
        sql = "SELECT at, program, kind, detail_json FROM events WHERE at >= ?"
        params: list[Any] = [since]
        if program is not None:
            sql += " AND program = ?"
            params.append(program)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        rows = await self.fetch_all(sql, params)
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    async def count_events(self, since: float, until: float, kinds: Sequence[str]) -> dict[str, dict[str, int]]:
        rows = await self.fetch_all(
            f"SELECT program, kind, COUNT(*) FROM events WHERE at >= ? AND at < ? "
            f"AND kind IN ({','.join('?' * len(kinds))}) GROUP BY program, kind",
            [since, until, *kinds],
        )
        out: dict[str, dict[str, int]] = {}
        for program, kind, n in rows:
            out.setdefault(program, {})[kind] = n
        return out

    # -- samples ---------------------------------------------------------
    async def add_samples(self, rows: list[SampleRow]) -> None:
        if rows:
            await self.execute_many(
                "INSERT INTO samples(program, at, span, n, cpu_avg, cpu_max, rss_avg, rss_max, up_n) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (r.program, r.at, r.span, r.n, r.cpu_avg, r.cpu_max, r.rss_avg, r.rss_max, r.up_n)
                    for r in rows
                ],
            )

    async def sample_summary(self, since: float, until: float) -> dict[str, dict[str, float]]:
        """Per program: weighted CPU/RSS average, peaks, and the fraction of samples that were up."""
        rows = await self.fetch_all(
            "SELECT program, SUM(n), SUM(cpu_avg*n), MAX(cpu_max), SUM(rss_avg*n), MAX(rss_max), SUM(up_n) "
            "FROM samples WHERE at >= ? AND at < ? GROUP BY program",
            (since, until),
        )
        out: dict[str, dict[str, float]] = {}
        for program, n, cpu_sum, cpu_max, rss_sum, rss_max, up in rows:
            if not n:
                continue
            out[program] = {
                "n": n,
                "cpu_avg": cpu_sum / n,
                "cpu_max": cpu_max,
                "rss_avg": rss_sum / n,
                "rss_max": rss_max,
                "up_fraction": up / n,
            }
        return out

    async def thin_samples(self, before: float, span: float) -> None:
        """Fold samples older than ``before`` into buckets of ``span`` seconds (keeps digests cheap)."""
        try:
            await self.transaction([
                ("CREATE TEMP TABLE IF NOT EXISTS thin AS SELECT * FROM samples WHERE 0", ()),
                ("DELETE FROM thin", ()),
                ("INSERT INTO thin SELECT program, CAST(at / ? AS INTEGER) * ?, ?, SUM(n), "
                 "SUM(cpu_avg*n)/SUM(n), MAX(cpu_max), SUM(rss_avg*n)/SUM(n), MAX(rss_max), SUM(up_n) "
                 "FROM samples WHERE at < ? AND span < ? GROUP BY program, CAST(at / ? AS INTEGER)",
                 (span, span, span, before, span, span)),
                ("DELETE FROM samples WHERE at < ? AND span < ?", (before, span)),
                ("INSERT INTO samples SELECT * FROM thin", ()),
            ])
        except RegistryError as e:
            raise RegistryError(f"Thinning samples failed: {e}") from e

    async def prune(self, before: float) -> None:
        await self.execute("DELETE FROM samples WHERE at < ?", (before,))
        await self.execute("DELETE FROM events WHERE at < ?", (before,))

    async def prune_runs(self, before: float, keep_per_program: int) -> int:
        """Forget runs that ended before ``before``, except the newest ``keep_per_program`` of each program.

        Open runs are never touched (they are what makes a live child known).
        Deletes in short chunks so other writers (a start, an alert) wait at most one chunk.
        """
        return await self._prune_chunks(
            "DELETE FROM runs WHERE id IN (SELECT id FROM (SELECT id, ended_at, ROW_NUMBER() OVER "
            "(PARTITION BY program ORDER BY id DESC) AS newest FROM runs) "
            "WHERE ended_at IS NOT NULL AND ended_at < ? AND newest > ? LIMIT ?)",
            (before, keep_per_program),
        )

    async def prune_audit(self, before: float, keep_rows: int) -> int:
        """Forget audit rows older than ``before``, and all but the newest ``keep_rows``."""
        return await self._prune_chunks(
            "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? OR id <= "
            "(SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?) ORDER BY id LIMIT ?)",
            (before, keep_rows),
        )

    async def _prune_chunks(self, sql: str, params: tuple[Any, ...]) -> int:
        total = 0
        while True:
            n = (await self.write(sql, (*params, PRUNE_CHUNK)))[0]
            total += max(n, 0)
            if n < PRUNE_CHUNK:
                return total
            await asyncio.sleep(0)

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
    ) -> int:
        return await self.execute(
            "INSERT INTO audit(at, platform, user_id, user_name, channel, command, outcome, detail) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (at, platform, user_id, user_name, channel, command, outcome, detail),
        )

    async def audit_rows(self, limit: int = 20) -> list[AuditRow]:
        rows = await self.fetch_all("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [AuditRow(*r) for r in rows]

    async def audit_page(
        self, limit: int, offset: int = 0, *, platform: str | None = None, user: str | None = None,
        program: str | None = None, outcome: str | None = None, since: float | None = None,
    ) -> tuple[list[AuditRow], int]:
        """One page of audit rows, newest first, and how many rows match in all.

        ``user`` matches the ID or the name; ``program`` matches a whole word of the command
        (commands are stored normalised, one space between words).
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
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        total = await self.fetch_all(f"SELECT COUNT(*) FROM audit{cond}", params)
        rows = await self.fetch_all(f"SELECT * FROM audit{cond} ORDER BY id DESC LIMIT ? OFFSET ?",
                                    [*params, limit, offset])
        return [AuditRow(*r) for r in rows], int(total[0][0])


