"""Storm detection: many programs failing together become one grouped alert.

Pure bookkeeping, no I/O, so the rule is easy to read and to test:

* the first new incident on a route is posted at once (a lone crash is never
  delayed);
* the incidents of the 2nd .. (threshold-1)th *distinct* program within
  ``window`` are *held* for ``hold`` seconds, long enough to see whether a
  storm is starting;
* the ``threshold``-th distinct program starts a group that takes in the held
  ones, and every new incident on that route within ``window`` of the group's
  last member joins it (the group alert is edited, not reposted);
* a held incident whose hold ends without a group is posted on its own;
* the same program failing again is a flap, never a storm: posted at once.

So 50 programs dying at once give two messages (the first alert and the
group), and a slow cascade at most ``threshold`` messages.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

RouteKey = tuple[str, ...]


class Verdict(StrEnum):
    POST = "post"
    HOLD = "hold"
    START_GROUP = "start_group"
    JOIN_GROUP = "join_group"


@dataclass
class Decision:
    verdict: Verdict
    #: START_GROUP: the incidents to fold into the new group (held ones first); JOIN_GROUP: the group id
    members: list[int] = field(default_factory=list)
    group_id: int | None = None


@dataclass
class _Route:
    recent: deque[tuple[float, str]] = field(default_factory=deque)  # (opened at, program)
    held: list[int] = field(default_factory=list)
    group_id: int | None = None
    group_last_join: float = 0.0


class StormDetector:
    def __init__(self, window: float, threshold: int) -> None:
        self.window = window
        self.threshold = threshold
        self._routes: dict[RouteKey, _Route] = {}

    def opened(self, key: RouteKey, incident_id: int, at: float, program: str) -> Decision:
        if self.window <= 0:
            return Decision(Verdict.POST)
        r = self._routes.setdefault(key, _Route())
        if r.group_id is not None and at - r.group_last_join <= self.window:
            r.group_last_join = at
            return Decision(Verdict.JOIN_GROUP, group_id=r.group_id)
        while r.recent and r.recent[0][0] < at - self.window:
            r.recent.popleft()
        seen = {p for _, p in r.recent}
        r.recent.append((at, program))
        if program in seen:  # the same program again is a flap, not a storm
            return Decision(Verdict.POST)
        if len(seen) + 1 >= self.threshold:
            members, r.held = [*r.held, incident_id], []
            r.recent.clear()
            return Decision(Verdict.START_GROUP, members=members)
        if not seen:
            return Decision(Verdict.POST)
        r.held.append(incident_id)
        return Decision(Verdict.HOLD)

    def retune(self, window: float, threshold: int) -> None:
        """Judge new failures by a new rule (a reload), keeping the held incidents and open groups.

        In place, never a fresh detector: one would not know the incidents held
        for grouping (their hold would end with nobody posting them) nor the
        failures seen so far in the window, so a storm spanning a reload would
        be split.
        """
        self.window, self.threshold = window, threshold

    def group_started(self, key: RouteKey, group_id: int, at: float) -> None:
        r = self._routes.setdefault(key, _Route())
        r.group_id, r.group_last_join = group_id, at

    def release(self, key: RouteKey, incident_id: int) -> bool:
        """The hold of ``incident_id`` ended: True if it should now be posted on its own."""
        r = self._routes.get(key)
        if r is None or incident_id not in r.held:
            return False
        r.held.remove(incident_id)
        return True
