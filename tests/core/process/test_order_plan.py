"""The start-order plan (core.process.order), without processes: dependencies first, then priority, then file order."""

from __future__ import annotations

from bot.config_loader import config_from_dict
from core.process.order import StartOrder
from core.spec.instances import instance_name


def plan(*programs: dict, watch: list[dict] | None = None) -> StartOrder:
    config = config_from_dict({"program": [{"command": ["true"], **p} for p in programs], "watch": watch or []}, "x")
    return StartOrder.of(config)


def test_programs_without_dependencies_go_by_priority_then_file_order():
    order = plan({"name": "c", "priority": 5}, {"name": "a"}, {"name": "b", "priority": 5})
    assert order.sorted(["a", "b", "c"]) == ["c", "b", "a"]


def test_a_dependency_comes_first_whatever_the_priorities():
    order = plan({"name": "web", "priority": 1, "depends_on": ["db"]}, {"name": "db", "priority": 2000})
    assert order.sorted(["web", "db"]) == ["db", "web"]


def test_a_dependency_on_a_program_with_instances_is_on_each_of_them():
    order = plan({"name": "web", "depends_on": ["db"]}, {"name": "db", "instances": 2})
    dbs = (instance_name("db", 0), instance_name("db", 1))
    assert order.starts_after("web") == dbs
    assert order.stops_after(dbs[1]) == ("web",)


def test_instances_share_their_programs_dependencies():
    order = plan({"name": "web", "instances": 2, "depends_on": ["db"]}, {"name": "db"})
    assert order.stops_after("db") == (instance_name("web", 0), instance_name("web", 1))


def test_only_dependencies_among_the_names_count():
    order = plan({"name": "web", "depends_on": ["db"]}, {"name": "db"}, {"name": "x", "priority": 1})
    assert order.sorted(["web", "x"]) == ["x", "web"]
    assert not order.linked(["web", "x"]) and order.linked(["web", "db"])


def test_a_watched_dependency_is_part_of_the_plan():
    order = plan({"name": "web", "depends_on": ["pg"]}, watch=[{"name": "pg", "pattern": "postgres"}])
    assert order.starts_after("web") == ("pg",)
