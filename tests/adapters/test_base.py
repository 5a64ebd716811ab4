"""The adapter base: one reconnect loop, owned tasks, one ``wait_connected`` contract.

The adapter here is an in-memory platform (Errbot's TestBackend idea): its
sessions fail or succeed as the test says, so the base's rules are checked
without a network; the Slack and Discord suites check them against their fakes.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from adapters.base import Adapter, Backoff
from tests.helpers import wait_for

FAST = Backoff(initial=0.01, ceiling=0.02)


class ScriptedAdapter(Adapter):
    """Sessions fail ``failures`` times, then stay up until stopped."""

    platform = "scripted"

    def __init__(self, failures: int = 0, **kwargs: object) -> None:
        super().__init__(backoff=FAST, **kwargs)  # type: ignore[arg-type]
        self.failures = failures
        self.sessions = 0
        self.closed = False

    async def _session(self) -> None:
        self.sessions += 1
        if self.sessions <= self.failures:
            raise ConnectionError(f"refused #{self.sessions}")
        self._set_connected(True)
        await asyncio.Event().wait()

    async def _close(self) -> None:
        self.closed = True


async def test_a_failing_session_is_retried_until_it_connects_and_start_never_waits_for_it() -> None:
    adapter = ScriptedAdapter(failures=3)
    await adapter.start()  # returns at once: nothing has connected yet
    assert not adapter.connected
    try:
        await adapter.wait_connected(10)
        assert adapter.sessions == 4
    finally:
        await adapter.stop()


async def test_wait_connected_raises_a_timeout_naming_the_platform() -> None:
    adapter = ScriptedAdapter(failures=10**6)
    await adapter.start()
    try:
        with pytest.raises(TimeoutError, match=r"scripted adapter did not connect within 0\.05s"):
            await adapter.wait_connected(0.05)
    finally:
        await adapter.stop()


async def test_stop_lets_quick_work_finish_cancels_slow_work_and_leaves_no_task() -> None:
    adapter = ScriptedAdapter(stop_grace=0.2)
    await adapter.start()
    await adapter.wait_connected(10)
    finished = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0)
        finished.set()

    slow = adapter.run_task(asyncio.sleep(3600), "scripted-slow")
    adapter.run_task(quick(), "scripted-quick")
    await adapter.stop()
    assert finished.is_set() and slow.cancelled()
    assert adapter.closed and not adapter.connected
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("scripted-")]


async def test_work_started_while_stopping_is_owned_and_awaited_too() -> None:
    adapter = ScriptedAdapter(stop_grace=5.0)
    await adapter.start()
    await adapter.wait_connected(10)
    answered: list[str] = []

    async def answer(what: str) -> None:
        await asyncio.sleep(0.01)
        answered.append(what)

    async def in_flight() -> None:  # a request that arrives as stop() begins: it answers "shutting down"
        await wait_for(lambda: adapter.stopping, 5)
        adapter.run_task(answer("shutting down"), "scripted-refusal")

    adapter.run_task(in_flight(), "scripted-request")
    await adapter.stop()
    assert answered == ["shutting down"]


def test_the_back_off_doubles_to_its_ceiling_within_its_jitter() -> None:
    b = Backoff(initial=1.0, ceiling=8.0, jitter=0.2)
    rng = random.Random(1)
    for failures, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        assert step * 0.8 <= b.delay(failures, rng) <= step * 1.2
