"""`web:2` in the grammar: one instance, and no clash with `group:NAME`, globs or a fleet's `web@host`."""

from __future__ import annotations

import pytest

from core.commands.grammar import Target, parse, parse_target
from core.errors import InvalidInput
from core.fleet.targets import split_host
from core.spec.instances import MAX_INSTANCES, instance_name


@pytest.mark.parametrize("index", [0, 7, MAX_INSTANCES - 1])
def test_an_instance_is_a_program_target(index):
    assert parse_target(instance_name("web", index)) == Target("program", instance_name("web", index))


@pytest.mark.parametrize("raw", [instance_name("web", MAX_INSTANCES), "web:01", "web:", "web:x", "web:1:2", ":1"])
def test_what_no_instance_can_be_named_is_refused(raw):
    with pytest.raises(InvalidInput):
        parse_target(raw)


def test_group_targets_keep_their_meaning():
    assert parse_target("group:web") == Target("group", "web")


def test_a_glob_may_name_instances():
    assert parse_target("web:*") == Target("glob", "web:*")


def test_a_one_program_verb_takes_an_instance():
    assert parse(f"logs {instance_name('web', 2)} 5").target == Target("program", instance_name("web", 2))


def test_a_host_part_comes_off_an_instance_intact():
    hosted = split_host(f"restart {instance_name('web', 2)}@web-02")
    assert (hosted.text, hosted.hosts) == (f"restart {instance_name('web', 2)}", "web-02")


def test_the_audit_filter_takes_an_instance():
    assert parse(f"audit program={instance_name('web', 2)}").extra["program"] == instance_name("web", 2)
