"""The start-order rules that span programs: what ``depends_on`` may name, and no cycles.

One program's fields are checked by their own rules (``core.spec.programs``); these need the whole
file, so ``bot.config_loader.validate`` runs them once the file has passed its schema, and
``run``, reload and ``check-config`` refuse the same configs. Each problem names its key
(``program[a].depends_on``), like the schema's.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

from core.spec.config import Config
from core.spec.instances import SEPARATOR


def order_problems(config: Config, also_known: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(key, problem) for each dependency on nothing, each cycle, and a name instances cannot take.

    ``also_known``: names in the file whose entries failed their own checks (not in ``config``).
    """
    programs = {p.name: p for p in config.program}
    known = sorted({*programs, *(w.name for w in config.watch), *also_known})
    out: list[tuple[str, str]] = []
    for p in config.program:
        for dep in p.depends_on:
            if dep == p.name:
                out.append((f"program[{p.name}].depends_on", f"cycle {p.name} -> {p.name}"))
            elif dep not in known:
                near = get_close_matches(dep, known, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                out.append((f"program[{p.name}].depends_on", f"no program named {dep!r}{hint}"))
        if p.instances > 1 and p.name == "group":
            out.append((f"program[{p.name}].instances",
                        f"a program named 'group' cannot have instances: `group{SEPARATOR}0` reads as a group target"))
    out += [(f"program[{cycle[0]}].depends_on", "cycle " + " -> ".join(cycle)) for cycle in _cycles(programs)]
    return out


def _cycles(programs: dict[str, object]) -> list[list[str]]:
    """Each dependency cycle once (``[a, b, a]``), found by a depth-first walk in config order."""
    deps = {name: [d for d in p.depends_on if d in programs and d != name]  # type: ignore[attr-defined]
            for name, p in programs.items()}
    done: set[str] = set()
    found: list[list[str]] = []
    for start in deps:
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        # an explicit stack of (node, its remaining dependencies): a long chain must not hit the recursion limit
        stack: list[tuple[str, list[str]]] = [(start, list(deps[start]))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, rest = stack[-1]
            if not rest:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
                continue
            nxt = rest.pop(0)
            if nxt in on_path:
                found.append([*path[path.index(nxt):], nxt])
            elif nxt not in done:
                stack.append((nxt, list(deps[nxt])))
                path.append(nxt)
                on_path.add(nxt)
    return found
