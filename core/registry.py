"""The SQLite registry: one writer connection, WAL, forward migrations.

History lives here (runs, events, samples, audit, outbox); the config stays
the source of truth for program specs, which are mirrored into ``programs``
so history queries can join on them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from core.errors import RegistryError
from core.schema import MIGRATIONS


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


class Registry:
    """Async access to the SQLite file. Every method is safe to await from the loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        # one connection is shared by every task: transactions must not interleave
        self.write_lock = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RegistryError("The registry is not open.")
        return self._db

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute("PRAGMA busy_timeout=5000")
            await self._db.execute("PRAGMA foreign_keys=ON")
            await self._migrate()
        except (sqlite3.Error, RegistryError) as e:
            if self._db is not None:
                await self._db.close()
                self._db = None
            if isinstance(e, RegistryError):
                raise
            raise RegistryError(f"Cannot open the registry {self.path}: {e}") from e

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _migrate(self) -> None:
        db = self.db
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with db.execute("SELECT version FROM schema_version") as cur:
            row = await cur.fetchone()
        version = row[0] if row else 0
        if version > len(MIGRATIONS):
            raise RegistryError(
                f"The registry {self.path} is from a newer procbot (schema {version}); upgrade procbot."
            )
        for i in range(version, len(MIGRATIONS)):
            await db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _split_sql(MIGRATIONS[i]):
                    await db.execute(stmt)
                if i == 0 and not row:
                    await db.execute("INSERT INTO schema_version(version) VALUES (1)")
                else:
                    await db.execute("UPDATE schema_version SET version = ?", (i + 1,))
                await db.execute("COMMIT")
            except sqlite3.Error:
                await db.execute("ROLLBACK")
                raise
            row = (i + 1,)

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT version FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    # -- helpers ---------------------------------------------------------
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement; returns the last row id."""
        return (await self.write(sql, params))[1]

    async def write(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, int]:
        """One write statement under the write lock; returns (rows touched, last row id)."""
        async with self.write_lock:
            try:
                cur = await self.db.execute(sql, params)
                result = (cur.rowcount, cur.lastrowid or 0)
                await cur.close()
                return result
            except sqlite3.Error as e:
                raise RegistryError(f"Registry write failed: {e}") from e

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.write_lock:
            await self._in_tx(lambda db: db.executemany(sql, rows))

    async def transaction(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run several statements atomically (for modules that keep their own tables)."""

        async def run(db: aiosqlite.Connection) -> None:
            for sql, params in statements:
                await db.execute(sql, params)

        async with self.write_lock:
            await self._in_tx(run)

    async def _in_tx(self, work: Callable[[aiosqlite.Connection], Awaitable[Any]]) -> None:
        """BEGIN, work, COMMIT, or ROLLBACK and a RegistryError; the caller holds write_lock."""
        try:
            await self.db.execute("BEGIN")
            await work(self.db)
            await self.db.execute("COMMIT")
        except sqlite3.Error as e:
            if self.db.in_transaction:
                await self.db.execute("ROLLBACK")
            raise RegistryError(f"Registry write failed: {e}") from e

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            async with self.db.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as e:
            raise RegistryError(f"Registry read failed: {e}") from e

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
        async with self.write_lock:
            await self._thin(before, span)

    async def _thin(self, before: float, span: float) -> None:
        await self.db.execute("BEGIN")
        try:
            await self.db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS thin AS SELECT * FROM samples WHERE 0"
            )
            await self.db.execute("DELETE FROM thin")
            await self.db.execute(
                "INSERT INTO thin SELECT program, CAST(at / ? AS INTEGER) * ?, ?, SUM(n), "
                "SUM(cpu_avg*n)/SUM(n), MAX(cpu_max), SUM(rss_avg*n)/SUM(n), MAX(rss_max), SUM(up_n) "
                "FROM samples WHERE at < ? AND span < ? GROUP BY program, CAST(at / ? AS INTEGER)",
                (span, span, span, before, span, span),
            )
            await self.db.execute("DELETE FROM samples WHERE at < ? AND span < ?", (before, span))
            await self.db.execute("INSERT INTO samples SELECT * FROM thin")
            await self.db.execute("COMMIT")
        except sqlite3.Error as e:
            await self.db.execute("ROLLBACK")
            raise RegistryError(f"Thinning samples failed: {e}") from e

    async def prune(self, before: float) -> None:
        await self.execute("DELETE FROM samples WHERE at < ?", (before,))
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
    ) -> int:
        return await self.execute(
            "INSERT INTO audit(at, platform, user_id, user_name, channel, command, outcome, detail) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (at, platform, user_id, user_name, channel, command, outcome, detail),
        )

    async def audit_rows(self, limit: int = 20) -> list[AuditRow]:
        rows = await self.fetch_all("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [AuditRow(*r) for r in rows]


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
