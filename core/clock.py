"""Time, passed in so tests control it."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (for records shown to people)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for durations and deadlines)."""


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
