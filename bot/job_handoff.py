"""What an APScheduler job does: hand a name to one task of ours.

APScheduler owns no work of procbot's. Its job function (:meth:`JobHandoff.fire`) only queues the
name; one task, owned here and cancelled and awaited by :meth:`stop`, does the work for each name
in turn, so a slow digest or restart never overlaps the next and is never cut off by the
scheduler's shutdown. A ProcbotError is logged with what failed; the task goes on. Used by the
digests (:mod:`bot.scheduler`) and ``restart_cron`` (:mod:`bot.restart_schedule`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.errors import ProcbotError

log = logging.getLogger(__name__)


class JobHandoff:
    def __init__(self, work: Callable[[str], Awaitable[object]], what: str) -> None:
        self._work = work
        #: the task's name, and what a failure is logged as ("digests" -> "digests: daily failed: ...")
        self.what = what
        self._fires: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def fire(self, name: str) -> None:
        """APScheduler's job function."""
        self._fires.put_nowait(name)

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name=self.what)

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    async def settled(self) -> None:
        """Every name handed over so far is done (tests)."""
        await self._fires.join()

    async def _run(self) -> None:
        while True:
            name = await self._fires.get()
            try:
                await self._work(name)
            except ProcbotError as e:
                log.error("%s: %s failed: %s", self.what, name, e)
            finally:
                self._fires.task_done()
