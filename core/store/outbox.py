"""SQL for the ``outbox`` table: alerts and digests written before they are delivered.

Kept apart from :mod:`core.alerts.outbox` (the sender) so the delivery rules read
without SQL in the way, and apart from :mod:`core.store.registry` (the lead's) so
the two evolve independently. Only appends rows and marks them; nothing here
rewrites a payload once written, which is what makes coalescing race-free
(see :mod:`core.alerts.outbox`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import RegistryError
from core.reply import Reply
from core.store.registry import Registry

_COLUMNS = ("id, created_at, dedup_key, destination, action, payload, incident_id, thread_of, attempts, "
            "next_try_at, delivered_at, message_ref, last_error, failed")


@dataclass(frozen=True)
class OutboxRow:
    id: int
    created_at: float
    dedup_key: str | None
    destination: str
    action: str              # post | update | reply
    payload: str             # Reply as JSON
    incident_id: int | None
    thread_of: int | None    # the entry whose message this updates / replies to
    attempts: int
    next_try_at: float
    delivered_at: float | None
    message_ref: str | None
    last_error: str | None
    failed: bool

    @property
    def reply(self) -> Reply:
        return Reply.from_dict(json.loads(self.payload))

    @property
    def pending(self) -> bool:
        return self.delivered_at is None and not self.failed


def _row(r: Sequence[Any]) -> OutboxRow:
    return OutboxRow(*r[:13], failed=bool(r[13]))  # type: ignore[arg-type]


class OutboxStore:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def _changes(self, sql: str, params: Sequence[Any]) -> int:
        """Run a write and return how many rows it touched (``Registry.execute`` returns the rowid)."""
        return (await self._write(sql, params))[0]

    async def _write(self, sql: str, params: Sequence[Any]) -> tuple[int, int]:
        """(rows touched, last rowid) of one write statement, under the registry's write lock."""
        return await self.registry.write(sql, params)

    async def add(
        self,
        *,
        destination: str,
        action: str,
        reply: Reply,
        now: float,
        dedup_key: str | None = None,
        incident_id: int | None = None,
        thread_of: int | None = None,
    ) -> tuple[int, bool]:
        """Insert an entry; returns (id, created). A known ``dedup_key`` returns the existing id."""
        payload = json.dumps(reply.to_dict(), default=str)
        touched, rowid = await self._write(
            "INSERT OR IGNORE INTO outbox(created_at, dedup_key, destination, action, payload, incident_id, "
            "thread_of, next_try_at) VALUES (?,?,?,?,?,?,?,?)",
            (now, dedup_key, destination, action, payload, incident_id, thread_of, now),
        )
        if touched:
            return rowid, True
        rows = await self.registry.fetch_all("SELECT id FROM outbox WHERE dedup_key=?", (dedup_key,))
        if not rows:
            raise RegistryError(f"Outbox entry {dedup_key!r} was neither inserted nor found.")
        return int(rows[0][0]), False

    async def get(self, entry_id: int) -> OutboxRow | None:
        rows = await self.registry.fetch_all(f"SELECT {_COLUMNS} FROM outbox WHERE id=?", (entry_id,))
        return _row(rows[0]) if rows else None

    async def by_key(self, dedup_key: str) -> OutboxRow | None:
        """The row queued under ``dedup_key``: how a fleet front's relayed rows are found again."""
        rows = await self.registry.fetch_all(f"SELECT {_COLUMNS} FROM outbox WHERE dedup_key=?", (dedup_key,))
        return _row(rows[0]) if rows else None

    async def head(self, destination: str) -> OutboxRow | None:
        """The oldest entry still to deliver to ``destination`` (lanes are strictly first in, first out)."""
        rows = await self.registry.fetch_all(
            f"SELECT {_COLUMNS} FROM outbox WHERE destination=? AND delivered_at IS NULL AND failed=0 "
            "ORDER BY id LIMIT 1",
            (destination,),
        )
        return _row(rows[0]) if rows else None

    async def next_entry(self, destination: str, *, retrying: bool) -> OutboxRow | None:
        """The entry a lane should send next, or None.

        ``retrying=False``: the oldest entry never tried yet (first sends go in id order).
        ``retrying=True``: the entry whose retry is due first. Either way an entry waits while
        the message it replies to or edits is still undelivered (a reply never overtakes its
        parent), but never behind an unrelated entry: one message that keeps failing cannot
        hold back the alerts queued after it.
        """
        tried = "o.attempts > 0" if retrying else "o.attempts = 0"
        order = "o.next_try_at, o.id" if retrying else "o.id"
        rows = await self.registry.fetch_all(
            f"SELECT {_COLUMNS} FROM outbox o "
            f"WHERE o.destination=? AND o.delivered_at IS NULL AND o.failed=0 AND {tried} "
            "AND (o.thread_of IS NULL OR NOT EXISTS (SELECT 1 FROM outbox p WHERE p.id=o.thread_of "
            "AND p.delivered_at IS NULL AND p.failed=0)) "
            f"ORDER BY {order} LIMIT 1",
            (destination,),
        )
        return _row(rows[0]) if rows else None

    async def pending_updates(self, parent_id: int) -> list[OutboxRow]:
        """Updates of ``parent_id`` not delivered yet, oldest first: only the newest needs sending."""
        rows = await self.registry.fetch_all(
            f"SELECT {_COLUMNS} FROM outbox WHERE thread_of=? AND action='update' "
            "AND delivered_at IS NULL AND failed=0 ORDER BY id",
            (parent_id,),
        )
        return [_row(r) for r in rows]

    async def pending_destinations(self) -> list[str]:
        rows = await self.registry.fetch_all(
            "SELECT DISTINCT destination FROM outbox WHERE delivered_at IS NULL AND failed=0"
        )
        return [str(r[0]) for r in rows]

    async def pending_count(self) -> int:
        rows = await self.registry.fetch_all("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed=0")
        return int(rows[0][0])

    async def mark_delivered(self, ids: Sequence[int], ref: str | None, at: float) -> None:
        marks = ",".join("?" * len(ids))
        await self._changes(
            f"UPDATE outbox SET delivered_at=?, message_ref=?, last_error=NULL WHERE id IN ({marks}) "
            "AND delivered_at IS NULL",
            (at, ref, *ids),
        )

    async def mark_retry(self, entry_id: int, attempts: int, next_try_at: float, error: str) -> None:
        await self._changes(
            "UPDATE outbox SET attempts=?, next_try_at=?, last_error=? WHERE id=?",
            (attempts, next_try_at, error[:500], entry_id),
        )

    async def mark_failed(self, ids: Sequence[int], attempts: int, error: str) -> None:
        marks = ",".join("?" * len(ids))
        await self._changes(
            f"UPDATE outbox SET failed=1, attempts=MAX(attempts, ?), last_error=? WHERE id IN ({marks})",
            (attempts, error[:500], *ids),
        )

    async def problems(self, since: float) -> list[tuple[str, str, int, int]]:
        """(destination, last error, failed count, retrying count) for entries in trouble since ``since``."""
        rows = await self.registry.fetch_all(
            "SELECT destination, last_error, SUM(failed), SUM(1 - failed) FROM outbox "
            "WHERE delivered_at IS NULL AND last_error IS NOT NULL AND (failed=0 OR created_at >= ?) "
            "GROUP BY destination, last_error ORDER BY MAX(id) DESC",
            (since,),
        )
        return [(str(d), str(e), int(f), int(r)) for d, e, f, r in rows]

    async def prune(self, before: float) -> int:
        """Forget delivered or failed entries older than ``before`` unless an open incident still needs them."""
        return await self._changes(
            "DELETE FROM outbox WHERE created_at < ? AND (delivered_at IS NOT NULL OR failed=1) "
            "AND (incident_id IS NULL OR incident_id NOT IN (SELECT id FROM incidents WHERE resolved_at IS NULL))",
            (before,),
        )
