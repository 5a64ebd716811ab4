"""Ending background tasks for certain.

Python 3.11's ``asyncio.wait_for`` (which nats-py and others use inside their
calls) can swallow a cancel that lands as the awaited result arrives, and a
loop around such a call then goes on for ever: a single ``cancel()`` followed
by ``gather`` hangs shutdown. So a cancel is repeated until the task ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object] | None]) -> None:
    """Cancel ``tasks`` and return once every one has ended, repeating a cancel a library swallowed."""
    pending = {t for t in tasks if t is not None}
    while pending:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
