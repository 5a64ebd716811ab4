"""Which destinations a program's alerts go to.

``[[alerts.route]]`` entries are tried in order and the **first** whose
``match`` covers the program wins, like firewall rules or Alertmanager's
routing tree without ``continue``: a specific route placed before a catch-all
takes a program out of the catch-all. A route fans out to every destination
in its ``to`` list. A program no route matches goes to the console, so an
alert is never dropped for want of a route.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.spec import Route
from core.spec.instances import name_matches

DEFAULT_DESTINATIONS: tuple[str, ...] = ("console",)


def matches(pattern: str, program: str, group: str | None) -> bool:
    """A route pattern: ``group:NAME``, ``all``, or a glob on the program name."""
    if pattern == "all":
        return True
    if pattern.startswith("group:"):
        return group is not None and group == pattern[6:]
    return name_matches(pattern, program)  # `web` covers web:0 ... too


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)

    def destinations(self, program: str, group: str | None) -> tuple[str, ...]:
        for route in self.routes:
            if any(matches(p, program, group) for p in route.match):
                return tuple(dict.fromkeys(route.to))  # keep order, drop repeats
        return DEFAULT_DESTINATIONS
