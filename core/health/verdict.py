"""From probe results to a verdict: healthy, unhealthy, or nothing new. Pure, like ``core.alerts.storm``.

The rules, as Docker's HEALTHCHECK and Kubernetes' probes have them:

* ``failures`` failed probes in a row make the program unhealthy; one passing probe makes it healthy;
* a failure during ``start_period`` (counted from the run's start) does not count; a probe that passes
  ends the start period early (the program has shown it is up, so what fails next counts);
* a verdict is reported once, when it changes: one "unhealthy" per episode however many probes fail
  while it lasts, one "healthy" when it ends. So the alert code sees episodes, never probes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times",
          7: "seven times", 8: "eight times", 9: "nine times", 10: "ten times"}


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    #: what happened, in words, for alerts and ``info``: "GET /healthz returned 503", "tcp 127.0.0.1:5432
    #: refused connection", "command pg_isready exited 2". Never a probe's output or a URL's query
    detail: str
    #: a command's output, masked and bounded (core.health.probes); for procbot's log, never for chat
    output: str = ""


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    #: the episode in words: "GET /healthz returned 503 three times", or the passing probe's detail
    text: str


def times(n: int) -> str:
    """``3`` -> ``"three times"``: how the alert counts failed probes."""
    return _TIMES.get(n, f"{n} times")


@dataclass
class Tracker:
    """The verdict of one run's probes. A new run gets a new tracker."""

    #: consecutive failed probes that make the program unhealthy
    failures: int
    #: monotonic time the start period ends: failures before it do not count
    counts_from: float
    #: the current verdict: None before the first one
    healthy: bool | None = None
    _streak: deque[str] = field(default_factory=deque)

    def observe(self, result: ProbeResult, mono: float) -> Verdict | None:
        """Take one probe's result (taken at ``mono``); the new verdict if it changed, else None."""
        if result.ok:
            self._streak.clear()
            self.counts_from = min(self.counts_from, mono)
            if self.healthy is True:
                return None
            self.healthy = True
            return Verdict(True, result.detail)
        if mono < self.counts_from:
            return None
        self._streak.append(result.detail)
        while len(self._streak) > self.failures:
            self._streak.popleft()
        if self.healthy is False or len(self._streak) < self.failures:
            return None
        self.healthy = False
        return Verdict(False, failed_text(list(self._streak)))


def failed_text(details: list[str]) -> str:
    """``["GET /healthz returned 503"] * 3`` -> ``"GET /healthz returned 503 three times"``."""
    last = details[-1]
    if all(d == last for d in details):
        return f"{last} {times(len(details))}"
    return f"{len(details)} failed checks in a row, the last: {last}"
