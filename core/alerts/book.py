"""The incidents the policy keeps in memory: each program's latest, and every one a group refers to.

The registry is the truth; this is what the stages read without a query on
every event. A program's latest incident is looked up in the registry once,
at its first failure after a start, because the previous run may have left
one open or recently resolved (a flap across a restart reopens it).
"""

from __future__ import annotations

from collections.abc import Iterable

from core.alerts.incidents import Incident, IncidentStore


class IncidentBook:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store
        self._last: dict[str, Incident] = {}   # program -> its latest incident (open or recently resolved)
        self._by_id: dict[int, Incident] = {}
        self._looked_up: set[str] = set()

    def remember(self, inc: Incident) -> None:
        self._last[inc.program] = inc
        self._by_id[inc.id] = inc
        self._looked_up.add(inc.program)

    def keep(self, inc: Incident) -> None:
        """Hold a group member that is not its program's latest incident."""
        self._by_id.setdefault(inc.id, inc)

    async def latest(self, program: str) -> Incident | None:
        if program not in self._looked_up:  # first failure since start: the last run may have left one
            self._looked_up.add(program)
            found = await self.store.latest(program)
            if found is not None:
                self.remember(found)
        return self._last.get(program)

    def current(self, program: str) -> Incident | None:
        """The program's open incident, if any (no lookup: only a failure opens one)."""
        inc = self._last.get(program)
        return inc if inc is not None and inc.open else None

    def members(self, ids: Iterable[int]) -> list[Incident]:
        """The incidents of ``ids`` still known, in that order (a group's members)."""
        return [self._by_id[i] for i in ids if i in self._by_id]

    def open(self) -> list[Incident]:
        return sorted((i for i in self._last.values() if i.open), key=lambda i: i.opened_at)

    def forget(self, group_members: Iterable[int]) -> None:
        """Drop incidents nobody refers to any more (neither a program's latest nor a group's member)."""
        wanted = {i.id for i in self._last.values()} | set(group_members)
        for iid in [i for i in self._by_id if i not in wanted]:
            del self._by_id[iid]
