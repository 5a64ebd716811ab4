"""The command catalog is the one declaration of every verb: everything that lists verbs reads it.

The CLI and Discord trees are checked against it in tests/bot/test_cli.py and
tests/adapters/discord/test_discord_commands.py; the documents a user reads are checked here.
"""

from __future__ import annotations

import inspect
import re

import pytest

from core.commands.catalog import ALIASES, BY_NAME, PROGRAM, ROLES, TARGET, VERBS, help_lines, slack_usage_hint
from core.commands.grammar import parse
from core.commands.verbs import handler_for
from core.errors import InvalidInput
from tests.helpers import REPO


def readme_commands() -> dict[str, tuple[str, str]]:
    """verb -> (usage, role) from the README's commands table."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"^\| `([^`]+)` \| (\w+) \|", line)
        if m:
            usage = m.group(1).replace("\\|", "|")
            assert usage.split()[0] not in rows, f"{usage.split()[0]} has two rows"
            rows[usage.split()[0]] = (usage, m.group(2))
    return rows


def test_the_readme_commands_table_has_one_row_per_verb_with_its_usage_and_role():
    shown_role = {"none": "anyone"}
    assert readme_commands() == {v.name: (v.usage, shown_role.get(v.role, v.role)) for v in VERBS}


def test_the_slack_manifest_usage_hint_is_the_one_the_catalog_writes():
    manifest = (REPO / "config" / "slack-manifest.yml").read_text()
    (hint,) = re.findall(r'(?m)^\s+usage_hint: "(.*)"$', manifest)
    assert hint == slack_usage_hint()
    named = {w for part in hint.split(" | ") for w in part.split()[0].split("|")}
    assert named == set(BY_NAME)


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.name)
def test_every_verb_has_an_async_handler(verb):
    assert inspect.iscoroutinefunction(handler_for(verb))


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.name)
def test_every_verb_needs_a_known_role_and_a_program_scoped_one_takes_a_target(verb):
    assert verb.role in ROLES
    if verb.program_scoped:
        assert verb.args and verb.args[0].kind in (TARGET, PROGRAM)


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.name)
def test_a_wrong_number_of_words_is_answered_with_the_catalog_usage(verb):
    too_many = " ".join([verb.name, *["web"] * (verb.max_words + 1)])
    with pytest.raises(InvalidInput, match=re.escape(verb.usage)):
        parse(too_many)


def test_aliases_parse_as_their_verb_and_name_no_verb():
    assert not set(ALIASES) & set(BY_NAME)
    for alias, name in ALIASES.items():
        assert parse(alias if BY_NAME[name].min_words == 0 else f"{alias} web").verb == name


def test_help_shows_one_usage_line_per_verb_in_catalog_order():
    assert help_lines() == [v.usage for v in VERBS]
    assert help_lines("logs") == ["logs <program> [lines]"]
