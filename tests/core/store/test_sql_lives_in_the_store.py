"""core/store/ is the only place with SQL: every other module calls a store method.

Read from the source, not from a list: every string in the shipped packages
is parsed, and one shaped like an SQL statement outside ``core/store/`` fails
the test with its file and line. Benchmarks and tests seed and inspect the
file directly and are not scanned.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("core", "bot", "adapters")
STORE = ROOT / "core" / "store"

# upper-case keywords in the shape of a statement, so prose ("select a program") is not SQL
STATEMENT = re.compile(
    r"\b(?:SELECT\b[\s\S]*\bFROM|INSERT(?:\s+OR\s+[A-Z]+)?\s+INTO|REPLACE\s+INTO|UPDATE\s+\w+\s+SET"
    r"|DELETE\s+FROM|CREATE\s+(?:TEMP\s+|UNIQUE\s+)?(?:TABLE|INDEX|TRIGGER|VIEW)|PRAGMA\s+\w+)\b"
)


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal with its line; an f-string is its literal parts joined."""
    out, parts = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            pieces = [v for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            parts.update(id(v) for v in pieces)
            out.append((node.lineno, "".join(v.value for v in pieces)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts:
            out.append((node.lineno, node.value))
    return out


def sql_outside_the_store() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_relative_to(STORE):
                continue
            for line, text in _strings(ast.parse(path.read_text(), str(path))):
                if STATEMENT.search(text):
                    found.append(f"{path.relative_to(ROOT)}:{line}: {text.strip()[:60]}")
    return found


def test_no_module_outside_core_store_holds_sql():
    assert sql_outside_the_store() == []


def test_the_check_recognises_the_statements_the_store_writes():
    store_sql = [text for path in STORE.rglob("*.py")
                 for _, text in _strings(ast.parse(path.read_text())) if STATEMENT.search(text)]
    for verb in ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"):
        assert any(text.lstrip().startswith(verb) for text in store_sql), verb
