"""Run history, written behind the programs' backs.

A spawn never waits for SQLite and never depends on it: the program's
identity is its cgroup or its environment tag (core/process/identity.py), so the
row is history. Starts and ends queue here and are written in order, many
per transaction; a failed write is logged once and retried, and the program
keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core.errors import RegistryError
from core.store.registry import Registry, RunEnd, RunStart

log = logging.getLogger(__name__)

RETRY_AFTER = 2.0
MAX_PENDING = 100_000


class RunLog:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._pending: list[RunStart | RunEnd] = []
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def started(self, program: str, pid: int, start_ticks: int, at: float, by: str, nonce: str,
                adopted: bool = False) -> None:
        self._add(RunStart(program, pid, start_ticks, at, by, nonce, adopted))

    def ended(self, nonce: str | None, at: float, exit_code: int | None, signal: str | None, reason: str) -> None:
        if nonce:
            self._add(RunEnd(nonce, at, exit_code, signal, reason))

    def _add(self, change: RunStart | RunEnd) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop(0)  # the oldest history goes first; programs are unaffected
        self._pending.append(change)
        self._ensure()
        assert self._wake is not None and self._idle is not None
        self._idle.clear()
        self._wake.set()

    def _ensure(self) -> None:
        if self._task is None or self._task.done():
            self._wake, self._idle = asyncio.Event(), asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="run-log")

    async def _run(self) -> None:
        assert self._wake is not None and self._idle is not None
        while True:
            if not self._pending:
                self._idle.set()
                await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            try:
                await self.registry.record_runs(batch)
            except RegistryError as e:
                self._pending[:0] = batch
                if not self._failing:
                    log.error("run history is not being recorded (programs keep running): %s", e)
                    self._failing = True
                await asyncio.sleep(RETRY_AFTER)
                continue
            if self._failing:
                log.info("run history is being recorded again")
                self._failing = False

    async def flush(self, timeout: float = 2.0) -> bool:
        """Wait (bounded) until everything queued is written; False if the registry is not taking it."""
        if self._task is None or self._idle is None or (not self._pending and self._idle.is_set()):
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 2.0) -> None:
        await self.flush(timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
