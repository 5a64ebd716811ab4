"""The layers only import downwards: core knows nothing of chat or of the wiring, adapters nothing of the wiring."""

from __future__ import annotations

import ast

import pytest

from tests.helpers import REPO

#: package -> the top-level packages it must never import
FORBIDDEN = {"core": {"adapters", "bot"}, "adapters": {"bot"}}


def _imports(path) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(package):
    wrong = [f"{path.relative_to(REPO)}:{line} imports {name}"
             for path in sorted((REPO / package).rglob("*.py"))
             for line, name in _imports(path)
             if name.split(".")[0] in FORBIDDEN[package]]
    assert wrong == []
