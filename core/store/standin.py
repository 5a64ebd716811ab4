"""The in-memory registry procbot runs on while the file cannot be written.

Design (why not a plain list of pending statements): callers need row ids
back (a run, an outbox entry, an incident) and read their own writes (the
outbox delivers the entry it has just queued; history shows the restart
just made). So while degraded, every write goes to an in-memory SQLite
database with the same schema, started from a copy of the file's *state*
tables; reads go there too, and ids come out exactly as the file would give
them (SQLite gives ``max(rowid)+1`` and both start from the same rows).

* State tables (everything but :data:`HISTORY_TABLES`) live in memory and
  are copied back whole, in one transaction, when the file is writable again.
* History tables (events, samples and their rollup) are not copied in: they
  are large and only appended to. Their writes go to memory *and* to an
  ordered journal, bounded by ``limit`` rows; past it they are dropped and
  counted. The journal is replayed into the file, in order, in batches of
  one transaction each, before the state copy.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

HISTORY_TABLES = frozenset({"events", "samples", "sample_hours", "rollup_state", "thin"})
_SKIP_TABLES = frozenset({"schema_version"})

_WRITES = re.compile(
    r"^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM|"
    r"CREATE\s+(?:TEMP\s+)?TABLE(?:\s+IF\s+NOT\s+EXISTS)?)\s+(\w+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Any = ()          # one parameter sequence, or a list of them when ``many``
    many: bool = False

    @property
    def rows(self) -> int:
        return len(self.params) if self.many else 1

    @property
    def table(self) -> str | None:
        m = _WRITES.match(self.sql)
        return m.group(1).lower() if m else None


Unit = Sequence[Statement]  # applied atomically


def is_history(unit: Unit) -> bool:
    return any(s.table in HISTORY_TABLES for s in unit)


@dataclass(frozen=True)
class LiveRun:
    """A run procbot knows is live right now (the supervisor's view, written back into a new file)."""

    nonce: str  # the key of a run row (and of the child's environment tag)
    program: str
    pid: int
    start_ticks: int
    started_at: float
    started_by: str
    adopted: bool


@dataclass(frozen=True)
class LiveState:
    programs: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # name, kind, spec, group
    runs: list[LiveRun] = field(default_factory=list)


async def run_unit(db: aiosqlite.Connection, unit: Unit, tx: bool) -> tuple[int, int]:
    """Execute ``unit`` (in one transaction when ``tx``); (rows touched, last row id) of the last statement."""
    result = (0, 0)
    if tx:
        await db.execute("BEGIN IMMEDIATE")
    try:
        for s in unit:
            cur = await (db.executemany(s.sql, s.params) if s.many else db.execute(s.sql, s.params))
            result = (cur.rowcount, cur.lastrowid or 0)
            if not s.many:  # (a batch's cursor holds no rows; skipping the close saves a thread hop per batch)
                await cur.close()
        if tx:
            await db.execute("COMMIT")
    except BaseException:
        if tx and db.in_transaction:
            try:
                await db.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
        raise
    return result


async def state_tables(db: aiosqlite.Connection) -> list[str]:
    async with db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ) as cur:
        names = [str(r[0]) for r in await cur.fetchall()]
    return [n for n in names if n not in HISTORY_TABLES and n not in _SKIP_TABLES]


async def _rows(db: aiosqlite.Connection, table: str) -> list[tuple[Any, ...]]:
    async with db.execute(f'SELECT * FROM "{table}"') as cur:
        return list(await cur.fetchall())


class StandIn:
    def __init__(self, conn: aiosqlite.Connection, limit: int) -> None:
        self.conn = conn
        self.limit = limit
        self.journal: deque[Unit] = deque()
        self.pending = 0
        self.dropped = 0

    async def copy_from(self, source: aiosqlite.Connection) -> None:
        """Take the state tables from the file (which can still be read when it cannot be written)."""
        for table in await state_tables(self.conn):
            rows = await _rows(source, table)
            if rows:
                marks = ",".join("?" * len(rows[0]))
                await self.conn.executemany(f'INSERT OR REPLACE INTO "{table}" VALUES ({marks})', rows)

    async def put_live(self, live: LiveState, now: float) -> None:
        """Write what the supervisor knows is live over whatever could be saved from a damaged file."""
        await self.conn.executemany(
            "INSERT OR REPLACE INTO programs(name, kind, spec_json, grp, updated_at) VALUES (?,?,?,?,?)",
            [(n, k, j, g, now) for n, k, j, g in live.programs],
        )
        await self.conn.executemany(
            "INSERT INTO runs(program, pid, start_ticks, started_at, started_by, adopted, nonce) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(nonce) DO NOTHING",
            [(r.program, r.pid, r.start_ticks, r.started_at, r.started_by, int(r.adopted), r.nonce)
             for r in live.runs],
        )

    async def apply(self, unit: Unit, tx: bool) -> tuple[int, int]:
        if is_history(unit):
            n = sum(s.rows for s in unit)
            if self.pending + n > self.limit:
                self.dropped += n
                return (0, 0)
            result = await run_unit(self.conn, unit, tx)
            self.journal.append(unit)
            self.pending += n
            return result
        return await run_unit(self.conn, unit, tx)

    async def replay(self, db: aiosqlite.Connection, max_units: int) -> int:
        """Write up to ``max_units`` journal entries into ``db`` in one transaction; how many were written."""
        batch = [self.journal[i] for i in range(min(max_units, len(self.journal)))]
        if not batch:
            return 0
        await run_unit(db, [s for unit in batch for s in unit], tx=True)
        for _ in batch:
            self.pending -= sum(s.rows for s in self.journal.popleft())
        return len(batch)

    async def finish(self, db: aiosqlite.Connection) -> None:
        """The rest of the journal and every state table, into ``db`` in one transaction."""
        work: list[Statement] = [s for unit in self.journal for s in unit]
        for table in await state_tables(self.conn):
            work.append(Statement(f'DELETE FROM "{table}"'))
            rows = await _rows(self.conn, table)
            if rows:
                marks = ",".join("?" * len(rows[0]))
                work.append(Statement(f'INSERT INTO "{table}" VALUES ({marks})', rows, many=True))
        await run_unit(db, work, tx=True)
        self.journal.clear()
        self.pending = 0

    async def close(self) -> None:
        await self.conn.close()
