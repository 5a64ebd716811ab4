"""The storm rule on its own: when alerts are held, grouped, or posted at once."""

from __future__ import annotations

from core.alerts.grouping import StormDetector, Verdict

KEY = ("slack:C1",)


def test_a_lone_crash_is_posted_at_once():
    assert StormDetector(10, 5).opened(KEY, 1, 0.0, "web").verdict is Verdict.POST


def test_the_threshold_th_program_within_the_window_starts_a_group_holding_the_others():
    storm = StormDetector(10, 4)
    verdicts = [storm.opened(KEY, i, i * 0.01, f"p{i}").verdict for i in range(1, 4)]
    assert verdicts == [Verdict.POST, Verdict.HOLD, Verdict.HOLD]
    start = storm.opened(KEY, 4, 0.04, "p4")
    assert start.verdict is Verdict.START_GROUP and start.members == [2, 3, 4]
    storm.group_started(KEY, 77, 0.04)
    join = storm.opened(KEY, 5, 5.0, "p5")
    assert join.verdict is Verdict.JOIN_GROUP and join.group_id == 77
    assert not storm.release(KEY, 2)  # folded into the group: not posted alone


def test_a_held_alert_is_posted_alone_when_no_storm_follows():
    storm = StormDetector(10, 5)
    storm.opened(KEY, 1, 0.0, "a")
    assert storm.opened(KEY, 2, 1.0, "b").verdict is Verdict.HOLD
    assert storm.release(KEY, 2)


def test_the_same_program_failing_again_is_never_counted_as_a_storm():
    storm = StormDetector(10, 2)
    assert [storm.opened(KEY, i, i * 0.1, "web").verdict for i in range(5)] == [Verdict.POST] * 5


def test_failures_further_apart_than_the_window_do_not_add_up_and_routes_count_apart():
    storm = StormDetector(10, 2)
    assert storm.opened(KEY, 1, 0.0, "a").verdict is Verdict.POST
    assert storm.opened(("console",), 2, 1.0, "b").verdict is Verdict.POST
    assert storm.opened(KEY, 3, 20.0, "c").verdict is Verdict.POST
    assert StormDetector(0, 2).opened(KEY, 1, 0.0, "a").verdict is Verdict.POST  # window 0: grouping off


def test_a_new_rule_after_a_reload_still_releases_what_the_old_one_held():
    storm = StormDetector(10, 5)
    storm.opened(KEY, 1, 0.0, "a")
    assert storm.opened(KEY, 2, 1.0, "b").verdict is Verdict.HOLD
    storm.retune(30, 4)
    assert storm.release(KEY, 2)


def test_failures_seen_before_a_new_rule_still_count_towards_a_storm_under_it():
    storm = StormDetector(10, 5)
    storm.opened(KEY, 1, 0.0, "a")
    storm.opened(KEY, 2, 1.0, "b")
    storm.retune(30, 3)
    start = storm.opened(KEY, 3, 20.0, "c")
    assert start.verdict is Verdict.START_GROUP and start.members == [2, 3]
