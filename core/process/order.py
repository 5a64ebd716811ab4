"""Start order, as a plan: who starts after whom (``depends_on``), and in what order (``priority``).

Pure: built from the config, no I/O; :mod:`core.process.sequencer` carries it out. Two rules:

- ``depends_on`` **waits**: a program starts once every program it depends on is ready
  (:func:`is_ready`); a stop goes the other way, a dependency is stopped only after its
  dependents have stopped. A dependency on a program with instances is one on all of them.
- ``priority`` only **orders**: lower numbers are spawned first and signalled last, without
  waiting, as in supervisord. Programs that depend on nothing still start side by side, so a
  cold start of 100 independent programs is as fast as it was without this module.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.process.states import ProgramState
from core.spec import Config
from core.spec.instances import family


def is_ready(st: ProgramState) -> bool:
    """Whether a program counts as up for the programs that depend on it: :attr:`ProgramState.ready`
    (running past its ``min_uptime``, or found running if watched; and healthy when it has a health
    check). A state move wakes the waiting programs through the bus; a first passing probe, which
    moves no state, through the runner's ``on_ready`` (the sequencer's ``poke``).
    """
    return st.ready


@dataclass(frozen=True)
class StartOrder:
    #: program (or instance) -> the programs it starts after, instances and watched programs included
    after: Mapping[str, tuple[str, ...]]
    #: program -> the programs that start after it (the reverse of ``after``)
    before: Mapping[str, tuple[str, ...]]
    #: program -> (priority, place in the file): the order among programs free to start
    rank: Mapping[str, tuple[int, int]]

    @classmethod
    def of(cls, config: Config) -> StartOrder:
        members: dict[str, list[str]] = {}
        for p in config.managed:
            members.setdefault(family(p.name), []).append(p.name)
        for w in config.watch:
            members[w.name] = [w.name]
        after: dict[str, tuple[str, ...]] = {}
        before: dict[str, list[str]] = {}
        rank: dict[str, tuple[int, int]] = {}
        for i, p in enumerate(config.managed):
            after[p.name] = tuple(m for d in p.depends_on for m in members.get(d, ()))
            for d in after[p.name]:
                before.setdefault(d, []).append(p.name)
            rank[p.name] = (p.priority, i)
        n = len(rank)
        for j, w in enumerate(config.watch):
            after[w.name], rank[w.name] = (), (999, n + j)
        return cls(after, {k: tuple(v) for k, v in before.items()}, rank)

    def starts_after(self, name: str) -> tuple[str, ...]:
        return self.after.get(name, ())

    def stops_after(self, name: str) -> tuple[str, ...]:
        """The programs that must be stopped before ``name`` is: its dependents."""
        return self.before.get(name, ())

    def linked(self, names: Iterable[str]) -> bool:
        """Whether any of ``names`` depends on another of them (then a restart goes in two phases)."""
        chosen = set(names)
        return any(d in chosen for n in chosen for d in self.starts_after(n))

    def sorted(self, names: Iterable[str]) -> list[str]:
        """``names`` in start order: each after the ones it depends on, else by priority, then by file order.

        A topological sort (Kahn's, with the rank as the tie-break), over the dependencies among
        ``names`` only; the config has no cycles (``core.spec.order``), so every name comes out.
        """
        chosen = set(names)
        waiting = {n: sum(1 for d in self.starts_after(n) if d in chosen) for n in chosen}
        heap = [(self._rank(n), n) for n, k in waiting.items() if k == 0]
        heapq.heapify(heap)
        out: list[str] = []
        while heap:
            _, n = heapq.heappop(heap)
            out.append(n)
            for m in self.stops_after(n):
                if m in waiting:
                    waiting[m] -= 1
                    if waiting[m] == 0:
                        heapq.heappush(heap, (self._rank(m), m))
        return out

    def _rank(self, name: str) -> tuple[int, int]:
        return self.rank.get(name, (999, len(self.rank)))
