"""Silences: alerts for matching programs are recorded but not posted until the silence ends."""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
from core.spec.instances import name_matches
from core.store.registry import Registry
from core.store.silences import SilenceStore


@dataclass(frozen=True)
class Silence:
    id: int
    target: str
    created_at: float
    until: float
    created_by: str
    reason: str

    def covers(self, program: str, group: str | None) -> bool:
        t = self.target
        if t == "all":
            return True
        if t.startswith("group:"):
            return group == t[6:]
        return name_matches(t, program)  # `silence web` covers web:0 ... too


class Silences:
    def __init__(self, registry: Registry, clock: Clock) -> None:
        self.store = SilenceStore(registry)
        self.clock = clock
        self._items: list[Silence] = []

    async def load(self) -> None:
        self._items = [Silence(*r) for r in await self.store.in_force(self.clock.time())]

    def active(self) -> list[Silence]:
        now = self.clock.time()
        self._items = [s for s in self._items if s.until > now]
        return list(self._items)

    def matching(self, program: str, group: str | None) -> Silence | None:
        for s in self.active():
            if s.covers(program, group):
                return s
        return None

    async def add(self, target: str, seconds: float, by: str, reason: str) -> Silence:
        now = self.clock.time()
        sid = await self.store.replace(target, now, now + seconds, by, reason)
        s = Silence(sid, target, now, now + seconds, by, reason)
        self._items = [x for x in self._items if x.target != target] + [s]
        return s

    async def remove(self, target: str) -> int:
        now = self.clock.time()
        before = len(self._items)
        self._items = [s for s in self._items if s.target != target]
        await self.store.end(target, now)
        return before - len(self._items)
