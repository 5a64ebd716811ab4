"""What every adapter shares: lifecycle, owned tasks, reconnect with back-off, ``wait_connected``.

Written once here (Errbot's ``Backend`` is the model) so a platform module
holds only what is about its platform: how to open one session, how to read
a payload, how to render a :class:`~core.reply.Reply`. The rules it gets for free:

* **start() returns at once.** A connector task opens a session with
  :meth:`Adapter._session` and, when the session ends or fails, logs it once
  and opens a new one after a back-off (:class:`Backoff`, one set of knobs for
  every platform). A platform outage or a bad token therefore never stops
  procbot, and nothing waits for a platform at start-up.
* **Every task is owned.** Work started with :meth:`Adapter.run_task` is kept
  in one set; :meth:`Adapter.stop` lets it finish for ``stop_grace`` seconds,
  cancels what is left, awaits all of it, then ends the connector and calls
  :meth:`Adapter._close`. No task outlives the adapter.
* **One ``wait_connected`` contract.** It returns once commands can arrive
  (or, for a destination, messages can be sent) and raises ``TimeoutError``
  naming the platform otherwise: a caller cannot mistake "not connected" for
  success by forgetting to test a return value.

Destinations declare what they can do as class attributes (``can_edit``,
``can_thread``; the contract is in :mod:`core.ports`); the alert policy, not
the adapter, decides what to do for one that cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from core.clock import Clock, SystemClock

log = logging.getLogger(__name__)

T = TypeVar("T")

#: how often ``wait_connected`` re-reads a ``connected`` that a library only lets us poll
POLL_CONNECTED = 0.01


@dataclass(frozen=True)
class Backoff:
    """The reconnect schedule: ``initial`` doubling to ``ceiling``, each delay jittered by ``jitter``.

    A session that stayed up longer than ``reset_after`` seconds starts the
    schedule afresh, so a connection that drops once a day reconnects in a
    second, not in a minute.
    """

    initial: float = 1.0
    ceiling: float = 60.0
    jitter: float = 0.2
    reset_after: float = 120.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``failures`` consecutive failed sessions (1 = the first)."""
        step = min(self.initial * 2 ** min(max(failures - 1, 0), 40), self.ceiling)
        spread = (rng or random).uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return step * spread


class Adapter:
    """Base of the console, Slack, Discord and webhook adapters.

    A subclass sets :attr:`platform` (the destination prefix in routes, ``slack``
    in ``slack:C123``), implements :meth:`_session`, and, when it holds
    resources outside a session, :meth:`_open` / :meth:`_close`. It marks
    itself up with :meth:`_set_connected` or overrides :attr:`connected` when
    its library can only be polled.
    """

    platform: ClassVar[str] = ""
    #: Messenger capabilities (see core.ports): a destination that cannot edit gets follow-up posts
    can_edit: ClassVar[bool] = True
    #: ... and one that cannot thread gets top-level posts
    can_thread: ClassVar[bool] = True

    def __init__(self, *, clock: Clock | None = None, backoff: Backoff | None = None,
                 stop_grace: float = 5.0, rng: random.Random | None = None) -> None:
        self.clock = clock or SystemClock()
        #: read at every failure, so a test may shorten it on a running adapter
        self.backoff = backoff or Backoff()
        self.stop_grace = stop_grace
        self._rng = rng or random.Random()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connector: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self._stopping = False

    # ------------------------------------------------------------ for subclasses

    async def _open(self) -> None:
        """Acquire what outlives one session (an HTTP client session). Called by :meth:`start`."""

    async def _session(self) -> None:
        """Connect, mark connected, and return (or raise) when the session is over.

        The default suits a destination with no connection to keep: it is up
        from start to stop.
        """
        self._set_connected(True)
        await asyncio.Event().wait()  # until the connector is cancelled by stop()

    async def _close(self) -> None:
        """Release what :meth:`_open` acquired; the connector and every owned task have ended."""

    def _session_failed(self, e: Exception) -> None:
        """Log why a session ended with ``e`` (override to word a platform's errors; log once)."""
        log.warning("%s: connection failed: %s: %s", self.platform, type(e).__name__, e)

    def _set_connected(self, up: bool) -> None:
        if up:
            self._up.set()
        else:
            self._up.clear()

    # ------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> bool:
        """True while commands can arrive (a destination: while messages can be sent)."""
        return self._up.is_set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def start(self) -> None:
        """Begin connecting in the background and return at once."""
        if self._connector is not None:
            return
        self._stopping = False
        await self._open()
        self._connector = asyncio.create_task(self._keep_connected(), name=f"{self.platform}-connect")

    async def wait_connected(self, timeout: float) -> None:
        """Return once :attr:`connected`; raise ``TimeoutError`` if ``timeout`` seconds pass first."""
        try:
            async with asyncio.timeout(timeout):
                while not self.connected:
                    # the event serves adapters that report; the bounded wait those that are polled
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(POLL_CONNECTED):
                            await self._up.wait()
        except TimeoutError:
            raise TimeoutError(f"the {self.platform} adapter did not connect within {timeout:g}s") from None

    async def stop(self) -> None:
        """Let in-flight work finish (briefly), cancel the rest, end the connection, release resources.

        :attr:`stopping` is true from the first line, so a subclass can answer
        requests that arrive meanwhile with "shutting down" instead of running them.
        """
        self._stopping = True
        await self._finish_tasks(self.stop_grace)
        if self._connector is not None:
            self._connector.cancel()
            await asyncio.gather(self._connector, return_exceptions=True)
            self._connector = None
        self._set_connected(False)
        await self._close()
        await self._finish_tasks(0.0)  # anything the closing connection still started

    async def _finish_tasks(self, grace: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while pending := {t for t in self._tasks if not t.done()}:
            _, late = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
            if late and loop.time() >= deadline:
                for t in late:
                    t.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            # and again: work started meanwhile (a "shutting down" answer) is owned too

    def run_task(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``coro`` in a task this adapter owns: :meth:`stop` awaits (or cancels) it."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _keep_connected(self) -> None:
        """One session after another until stop(); each failure logged once, then backed off."""
        failures = 0
        while not self._stopping:
            began = self.clock.monotonic()
            try:
                await self._session()
                if not self._stopping:
                    log.warning("%s: connection closed; reconnecting", self.platform)
            except Exception as e:  # noqa: BLE001 - logged by _session_failed; a library must never end procbot
                self._session_failed(e)
            finally:
                self._set_connected(False)
            if self._stopping:
                break
            if self.clock.monotonic() - began > self.backoff.reset_after:
                failures = 0  # it had been up for a while: start the back-off afresh
            failures += 1
            wait = self.backoff.delay(failures, self._rng)
            log.info("%s: reconnecting in %.1fs", self.platform, wait)
            await asyncio.sleep(wait)
