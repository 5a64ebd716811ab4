"""SQLite schema as forward-only migrations.

Each entry upgrades the file from version i to i+1; a new release appends,
never edits, so any older file can be brought forward by :func:`migrate`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from core.errors import RegistryError

MIGRATIONS: list[str] = [
    # 1: the base schema
    """
    CREATE TABLE programs (
        name        TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,            -- managed | watched
        spec_json   TEXT NOT NULL,
        grp         TEXT,
        updated_at  REAL NOT NULL
    );
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        program     TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        start_ticks INTEGER NOT NULL,         -- /proc/<pid>/stat starttime: (pid, start) is the identity
        started_at  REAL NOT NULL,
        ended_at    REAL,
        exit_code   INTEGER,
        signal      TEXT,
        reason      TEXT,                      -- exited | crashed | stopped | lost | adopted-exit
        started_by  TEXT NOT NULL DEFAULT 'procbot',
        adopted     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_program ON runs(program, started_at);
    CREATE INDEX runs_open ON runs(ended_at) WHERE ended_at IS NULL;
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        at          REAL NOT NULL,
        program     TEXT NOT NULL,
        kind        TEXT NOT NULL,
        detail_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_program ON events(program, at);
    CREATE INDEX events_at ON events(at);
    CREATE TABLE samples (
        program     TEXT NOT NULL,
        at          REAL NOT NULL,             -- start of the bucket
        span        REAL NOT NULL,             -- bucket length, seconds
        n           INTEGER NOT NULL,
        cpu_avg     REAL NOT NULL,
        cpu_max     REAL NOT NULL,
        rss_avg     REAL NOT NULL,
        rss_max     INTEGER NOT NULL,
        up_n        INTEGER NOT NULL           -- samples in which the program was up
    );
    CREATE INDEX samples_program ON samples(program, at);
    CREATE INDEX samples_at ON samples(at);
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY,
        at          REAL NOT NULL,
        platform    TEXT NOT NULL,
        user_id     TEXT NOT NULL,
        user_name   TEXT NOT NULL DEFAULT '',
        channel     TEXT,
        command     TEXT NOT NULL,
        outcome     TEXT NOT NULL,             -- ok | refused | error | confirm
        detail      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY,
        created_at  REAL NOT NULL,
        dedup_key   TEXT UNIQUE,
        destination TEXT NOT NULL,             -- console | slack:C123 | discord:123
        action      TEXT NOT NULL,             -- post | update | reply
        payload     TEXT NOT NULL,             -- Reply as JSON
        incident_id INTEGER,
        thread_of   INTEGER,                   -- outbox id whose message this replies to / updates
        attempts    INTEGER NOT NULL DEFAULT 0,
        next_try_at REAL NOT NULL,
        delivered_at REAL,
        message_ref TEXT,
        last_error  TEXT,
        failed      INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_due ON outbox(next_try_at) WHERE delivered_at IS NULL AND failed = 0;
    CREATE TABLE incidents (
        id          INTEGER PRIMARY KEY,
        program     TEXT NOT NULL,
        opened_at   REAL NOT NULL,
        updated_at  REAL NOT NULL,
        resolved_at REAL,
        crashes     INTEGER NOT NULL DEFAULT 1,
        state_json  TEXT NOT NULL DEFAULT '{}',
        announced_at REAL
    );
    CREATE INDEX incidents_open ON incidents(program) WHERE resolved_at IS NULL;
    CREATE TABLE silences (
        id          INTEGER PRIMARY KEY,
        target      TEXT NOT NULL,
        created_at  REAL NOT NULL,
        until       REAL NOT NULL,
        created_by  TEXT NOT NULL,
        reason      TEXT NOT NULL DEFAULT '',
        ended_at    REAL
    );
    CREATE TABLE digest_runs (
        name        TEXT NOT NULL,
        due_at      REAL NOT NULL,
        ran_at      REAL NOT NULL,
        PRIMARY KEY (name, due_at)
    );
    """,
    # 2: alerts and digests (issue 4)
    #   sample_hours: hourly rollup of samples so a 30-day digest reads ~720 rows per program, not 43k;
    #   rebuilt per hour from samples, so thinning (which preserves sums and maxima) never skews it.
    #   rollup_state: the rollup's watermark (samples rowid already folded).
    #   alert_groups: one grouped alert for a storm of programs failing together.
    """
    CREATE TABLE sample_hours (
        hour        REAL NOT NULL,             -- start of the hour (epoch seconds, UTC-aligned)
        program     TEXT NOT NULL,
        n           INTEGER NOT NULL,
        cpu_sum     REAL NOT NULL,             -- SUM(cpu_avg * n)
        cpu_max     REAL NOT NULL,
        rss_sum     REAL NOT NULL,             -- SUM(rss_avg * n)
        rss_max     INTEGER NOT NULL,
        up_n        INTEGER NOT NULL,
        PRIMARY KEY (hour, program)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_state (
        name        TEXT PRIMARY KEY,
        value       REAL NOT NULL
    );
    CREATE TABLE alert_groups (
        id          INTEGER PRIMARY KEY,
        opened_at   REAL NOT NULL,
        updated_at  REAL NOT NULL,
        resolved_at REAL,
        state_json  TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alert_groups_open ON alert_groups(resolved_at) WHERE resolved_at IS NULL;
    CREATE INDEX outbox_lane ON outbox(destination, id) WHERE delivered_at IS NULL AND failed = 0;
    CREATE INDEX outbox_thread ON outbox(thread_of) WHERE thread_of IS NOT NULL;
    CREATE INDEX incidents_opened ON incidents(opened_at);
    """,
    # 3: run nonces (issue 7). A run is keyed by the nonce procbot generates before the spawn and
    #   puts in the child's environment, so a row can be written late (a buffered INSERT and a later
    #   UPDATE replay in order, with no DB-assigned id) and a found process can be matched to its row.
    #   Rows from before get a unique legacy nonce.
    """
    ALTER TABLE runs ADD COLUMN nonce TEXT;
    UPDATE runs SET nonce = 'legacy-' || id WHERE nonce IS NULL;
    CREATE UNIQUE INDEX runs_nonce ON runs(nonce);
    """,
    # 4: the host an audit row is about (issue 10): this host for its own commands, the refused target
    #   hosts (comma-separated) for a fleet command the front refused. Rows from before: ''.
    """
    ALTER TABLE audit ADD COLUMN host TEXT NOT NULL DEFAULT '';
    """,
]


async def migrate(db: aiosqlite.Connection, path: Path) -> None:
    """Bring ``db`` forward to the newest schema, one transaction per migration; refuse a newer file."""
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    async with db.execute("SELECT version FROM schema_version") as cur:
        row = await cur.fetchone()
    version = row[0] if row else 0
    if version > len(MIGRATIONS):
        raise RegistryError(f"The registry {path} is from a newer procbot (schema {version}); upgrade procbot.")
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


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
