"""The registry's connection: the write path that degrades instead of failing, and file repair.

The queries are elsewhere, one module per table family (:mod:`core.store.registry`
lists them); migrations are in :mod:`core.store.schema`. See
:class:`RegistryConnection` for the fault design and :mod:`core.store.standin`
for the in-memory stand-in.

Durability (decided per table; one ``synchronous`` setting per connection,
so the strictest need decides): ``synchronous=NORMAL`` in WAL mode. A
process crash (kill -9 of procbot) loses nothing committed; only a power
loss or kernel crash can lose the last commits since the last WAL sync.

* ``runs``: NORMAL is enough because a run row is no longer what makes a
  child known: the program's cgroup (or, without cgroups, the environment
  tag on the child with the subreaper scan) is found at start-up whether or
  not its row survived. A lost row costs one line of ``history``.
* ``outbox``, ``incidents``, ``alert_groups``: a power loss also killed the
  programs the lost alerts were about; the next procbot reports what it
  finds. At-most-the-last-second loss is accepted.
* ``audit``, ``silences``, ``digest_runs``, ``programs``: the lost tail is
  seconds of history; ``programs`` is rewritten from the config at start-up.
* ``events``, ``samples``, ``sample_hours``: history only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from core.errors import RegistryError, RegistryUnavailable
from core.store.health import SQLITE_HEADER, RegistryHealth, describe, hhmm, is_damage, is_fault
from core.store.schema import migrate
from core.store.standin import LiveState, StandIn, Statement, Unit, run_unit

log = logging.getLogger(__name__)

#: history rows (events, samples) kept in memory while the file cannot be written; the rest is dropped and counted
JOURNAL_LIMIT = 50_000
#: journal entries per transaction when the file is writable again
REPLAY_BATCH = 500
#: a lock held by another process past this is a fault (degrade), not a wait
BUSY_TIMEOUT_MS = 2000
CLOSE_FLUSH_TIMEOUT = 5.0
#: rows deleted per statement when pruning, so no transaction holds the writer for long
PRUNE_CHUNK = 2000


class RegistryConnection:
    """Async access to the SQLite file. Every method is safe to await from the loop.

    Faults degrade, never destroy: a write the file refuses (full disk,
    read-only or immutable file, I/O error, a lock held past the timeout) is
    taken by an in-memory stand-in (:mod:`core.store.standin`) and written
    to the file by a background task, with backoff, once it can be; a file
    that was deleted, truncated or replaced is set aside and re-created from
    the stand-in and the supervisor's live state (:attr:`live_state`).
    Callers never see those faults; :attr:`health` and :meth:`status_notes`
    say what is going on.
    """

    def __init__(
        self,
        path: Path,
        *,
        journal_limit: int = JOURNAL_LIMIT,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        check_every: float = 1.0,
    ) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        # one connection is shared by every task: transactions must not interleave
        self.write_lock = asyncio.Lock()
        self.journal_limit = journal_limit
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.check_every = check_every
        #: what is live right now (the supervisor's programs and runs), written into a re-created file
        self.live_state: Callable[[], LiveState] | None = None
        #: called with the new health on every change (the "history is not being recorded" alert)
        self.health_listeners: list[Callable[[RegistryHealth], None]] = []
        self._standin: StandIn | None = None
        self._damaged = False
        self._reopen = False
        self._size_seen = 0
        self._identity: tuple[int, int] | None = None
        self._reason = ""
        self._since: float | None = None
        self._dropped_before = 0
        self._recreated = ""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        """The connection reads go to: the stand-in while degraded, else the file."""
        if self._standin is not None:
            return self._standin.conn
        if self._db is None:
            raise RegistryError("The registry is not open.")
        return self._db

    @property
    def health(self) -> RegistryHealth:
        si = self._standin
        dropped = self._dropped_before + (si.dropped if si else 0)
        if si is None:
            return RegistryHealth(dropped=dropped, recreated=self._recreated)
        return RegistryHealth(ok=False, reason=self._reason, since=self._since, pending=si.pending,
                              dropped=dropped, recreated=self._recreated)

    def status_notes(self) -> list[str]:
        return self.health.notes()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = await self._open_file()
        except _Damaged as e:
            log.error("the registry %s is damaged (%s); setting it aside and starting a new one", self.path, e)
            kept = await asyncio.to_thread(self._set_aside)
            self._db = await self._open_file()
            self._recreated = _recreated_note(str(e), kept)
        self._task = asyncio.create_task(self._watch(), name="registry-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._standin is not None:
            try:
                await asyncio.wait_for(self._recover(), CLOSE_FLUSH_TIMEOUT)
            except (sqlite3.Error, OSError, RegistryError, TimeoutError) as e:
                log.error("closing with the registry unwritable (%s): %d history rows and the state kept in "
                          "memory since %s are lost", e, self._standin.pending if self._standin else 0,
                          hhmm(self._since or 0))
            if self._standin is not None:
                await self._standin.close()
                self._standin = None
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                await self._db.close()
            self._db = None

    async def _open_file(self) -> aiosqlite.Connection:
        """Connect, migrate, remember the file's identity; _Damaged for a file that is not a usable registry."""
        db: aiosqlite.Connection | None = None
        try:
            if self.path.exists() and self.path.stat().st_size and not _has_header(self.path):
                raise _Damaged("the file is not an SQLite database")
            db = await aiosqlite.connect(self.path, isolation_level=None)
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await db.execute("PRAGMA foreign_keys=ON")
            await migrate(db, self.path)
            st = self.path.stat()
            self._identity = (st.st_dev, st.st_ino)
            self._size_seen = st.st_size
            return db
        except (sqlite3.Error, RegistryError, _Damaged, OSError) as e:
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    await db.close()
            if isinstance(e, _Damaged | RegistryError):
                raise
            if isinstance(e, sqlite3.Error) and is_damage(e):
                raise _Damaged(describe(e)) from e
            raise RegistryError(f"Cannot open the registry {self.path}: {e}") from e

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT version FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    # -- the write path ----------------------------------------------------
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement; returns the last row id."""
        return (await self.write(sql, params))[1]

    async def write(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, int]:
        """One write statement under the write lock; returns (rows touched, last row id)."""
        return await self._submit([Statement(sql, tuple(params))], tx=False)

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._submit([Statement(sql, [tuple(r) for r in rows], many=True)], tx=True)

    async def transaction(self, statements: Sequence[tuple[str, Sequence[Any]] | Statement]) -> tuple[int, int]:
        """Run several statements atomically; (rows touched, last row id) of the last statement.

        An item is ``(sql, params)``, or a :class:`~core.store.standin.Statement` with ``many=True``
        for an executemany inside the transaction.
        """
        unit = [s if isinstance(s, Statement) else Statement(s[0], tuple(s[1])) for s in statements]
        return await self._submit(unit, tx=True)

    async def delete_in_chunks(self, sql: str, params: tuple[Any, ...]) -> int:
        """Repeat a ``DELETE ... LIMIT ?`` (``PRUNE_CHUNK`` is appended to ``params``) until it deletes
        fewer rows than a chunk; how many were deleted. Other writers wait at most one chunk."""
        total = 0
        while True:
            n = (await self.write(sql, (*params, PRUNE_CHUNK)))[0]
            total += max(n, 0)
            if n < PRUNE_CHUNK:
                return total
            await asyncio.sleep(0)

    async def _submit(self, unit: Unit, tx: bool) -> tuple[int, int]:
        async with self.write_lock:
            if self._standin is None:
                problem = self._file_problem()
                if problem is None:
                    try:
                        return await run_unit(self.db, unit, tx)
                    except sqlite3.Error as e:
                        if not is_fault(e):
                            raise RegistryError(f"Registry write failed: {e}") from e
                        damaged = is_damage(e) or self._file_problem() is not None
                        await self._degrade(describe(e), damaged=damaged)
                else:
                    await self._degrade(problem, damaged=True)
            assert self._standin is not None
            try:
                return await self._standin.apply(unit, tx)
            except sqlite3.Error as e:
                raise RegistryError(f"Registry write failed: {e}") from e

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return await _fetch(self.db, sql, params)
        except sqlite3.Error as e:
            if self._standin is not None or not is_fault(e):
                raise RegistryError(f"Registry read failed: {e}") from e
            # the file cannot be read: serve from memory (what it still had, and the live state)
            async with self.write_lock:
                if self._standin is None:
                    await self._degrade(describe(e), damaged=True)
        try:
            return await _fetch(self.db, sql, params)
        except sqlite3.Error as e:
            raise RegistryUnavailable(f"The registry cannot be read right now: {e}") from e

    # -- degrading and recovering ------------------------------------------
    async def _degrade(self, reason: str, *, damaged: bool) -> None:
        """Switch to the in-memory stand-in; the caller holds write_lock."""
        conn = await aiosqlite.connect(":memory:", isolation_level=None)
        await migrate(conn, Path(":memory:"))
        standin = StandIn(conn, self.journal_limit)
        copied = False
        if self._db is not None:
            try:
                await standin.copy_from(self._db)
                copied = True
            except sqlite3.Error as e:
                log.error("could not read the registry's state back (%s): using the live state only", e)
        if (damaged or not copied) and self.live_state is not None:
            await standin.put_live(self.live_state(), time.time())
        self._standin, self._damaged = standin, damaged
        self._reason, self._since = reason, time.time()
        log.error("the registry %s cannot be written (%s): running from memory, retrying in the background",
                  self.path, reason)
        self._changed()
        self._wake.set()

    async def _recover(self) -> None:
        """Write the stand-in into the file (a new one if the old is damaged or gone) and switch back to it."""
        si = self._standin
        if si is None:
            return
        if self._damaged or self._file_problem() is not None:
            await self._recreate()
        elif self._reopen or self._db is None:
            # a connection opened while the file was read-only (chattr +i) stays read-only: open it again
            await self._close_file()
            try:
                self._db = await self._open_file()
            except _Damaged as e:
                self._damaged = True
                raise RegistryError(f"the registry file is damaged: {e}") from e
        self._reopen = False
        while len(si.journal) > REPLAY_BATCH:
            await si.replay(self.db_file, REPLAY_BATCH)
            await asyncio.sleep(0)
        async with self.write_lock:
            await si.finish(self.db_file)
            self._dropped_before += si.dropped
            self._standin = None
        await si.close()
        log.warning("the registry %s is written again (it could not be since %s: %s)",
                    self.path, hhmm(self._since or 0), self._reason)
        self._changed()

    @property
    def db_file(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RegistryError("The registry file is not open.")
        return self._db

    async def _recreate(self) -> None:
        """Close the old file, keep it aside (never delete what may be someone's file), start a new one."""
        reason = self._file_problem() or self._reason
        await self._close_file()
        kept = await asyncio.to_thread(self._set_aside)
        try:
            self._db = await self._open_file()
        except (_Damaged, RegistryError) as e:
            # the new file could not be made (disk full?): leave no empty file to be "set aside" next time
            with contextlib.suppress(OSError):
                if self.path.stat().st_size == 0:
                    self.path.unlink()
            raise RegistryError(f"cannot create a new registry: {e}") from e
        self._damaged = False
        self._recreated = _recreated_note(reason, kept)
        log.error("re-created the registry %s (%s)%s", self.path, reason, f"; the old file is {kept}" if kept else "")

    async def _close_file(self) -> None:
        if self._db is not None:
            old, self._db = self._db, None
            with contextlib.suppress(sqlite3.Error):
                await old.close()

    def _set_aside(self) -> Path | None:
        """Move the damaged file and its WAL and shm files away; the new path of the main file, if any."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kept = None
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{self.path}{suffix}")
            if p.exists():
                dest = Path(f"{self.path}.broken-{stamp}{suffix}")
                os.replace(p, dest)
                kept = kept or (dest if suffix == "" else None)
        return kept

    def _file_problem(self) -> str | None:
        """Why the file at ``path`` is not the registry we have open, from ``stat`` alone.

        Never open the file here: closing any descriptor of it drops every POSIX lock this process
        holds on it, SQLite's included, and another process would then think it may delete our WAL.
        A file overwritten in place is caught by SQLite itself (SQLITE_NOTADB / SQLITE_CORRUPT).
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "the registry file was deleted"
        except OSError as e:
            return f"the registry file cannot be examined: {e}"
        if self._identity is not None and (st.st_dev, st.st_ino) != self._identity:
            return "the registry file was replaced by another file"
        if st.st_size == 0 or st.st_size < self._size_seen:  # WAL mode never shrinks the main file
            return "the registry file was truncated"
        self._size_seen = st.st_size
        return None

    async def _watch(self) -> None:
        """Owned background task: notice a replaced file; retry a degraded registry with backoff."""
        delay = self.retry_initial
        while True:
            if self._standin is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.check_every)
                self._wake.clear()
                if self._standin is None:
                    problem = self._file_problem()  # one stat: no thread needed
                    if problem is not None:
                        async with self.write_lock:
                            if self._standin is None:
                                await self._degrade(problem, damaged=True)
                delay = self.retry_initial
                continue
            try:
                await self._recover()
                continue
            except (sqlite3.Error, OSError, RegistryError) as e:
                self._reason = _reason(e, self._reason)
                self._reopen = True
                log.debug("the registry is still not writable: %s", e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)

    def _changed(self) -> None:
        health = self.health
        for listener in list(self.health_listeners):
            try:
                listener(health)
            except Exception:  # a listener's bug must not stop the registry
                log.exception("registry health listener failed")


class _Damaged(Exception):
    """The file is not a usable registry (corrupt, truncated, not SQLite): set it aside, start anew."""


def _has_header(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def _recreated_note(reason: str, kept: Path | None) -> str:
    where = f"; the old file was kept as {kept.name}" if kept else ""
    return f"registry re-created at {hhmm(time.time())} ({reason}){where}"


def _reason(e: BaseException, previous: str) -> str:
    if isinstance(e, sqlite3.Error):
        return describe(e)
    return str(e) or previous


async def _fetch(db: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    async with db.execute(sql, params) as cur:
        return list(await cur.fetchall())
