"""The verdict rules, without processes: failures in a row, the start period, one report per episode."""

from __future__ import annotations

from core.health.verdict import ProbeResult, Tracker, Verdict, failed_text, times

OK = ProbeResult(True, "GET /healthz returned 200")
BAD = ProbeResult(False, "GET /healthz returned 503")


def feed(tracker: Tracker, results: list[ProbeResult], start: float = 100.0) -> list[Verdict | None]:
    return [tracker.observe(r, start + i) for i, r in enumerate(results)]


def test_three_failures_in_a_row_are_one_unhealthy_verdict_naming_the_probe_and_the_count():
    out = feed(Tracker(3, counts_from=0), [OK, BAD, BAD, BAD, BAD, BAD])
    assert out == [Verdict(True, OK.detail), None, None, Verdict(False, "GET /healthz returned 503 three times"),
                   None, None]


def test_a_pass_between_failures_starts_the_count_again():
    out = feed(Tracker(3, counts_from=0), [BAD, BAD, OK, BAD, BAD])
    assert [v for v in out if v is not None] == [Verdict(True, OK.detail)]


def test_one_pass_after_an_unhealthy_episode_is_the_healthy_verdict():
    out = feed(Tracker(2, counts_from=0), [BAD, BAD, BAD, OK, OK])
    assert [v.healthy for v in out if v is not None] == [False, True]


def test_failures_during_the_start_period_do_not_count():
    tracker = Tracker(2, counts_from=110.0)
    assert feed(tracker, [BAD] * 10) == [None] * 10         # 100..109: inside the start period
    assert tracker.observe(BAD, 110.0) is None
    assert tracker.observe(BAD, 111.0) == Verdict(False, "GET /healthz returned 503 twice")


def test_a_pass_ends_the_start_period_early():
    tracker = Tracker(2, counts_from=1000.0)
    out = feed(tracker, [BAD, OK, BAD, BAD])
    assert out[-1] == Verdict(False, "GET /healthz returned 503 twice")


def test_different_failures_in_a_row_are_counted_and_the_last_named():
    details = ["GET /healthz returned 503", "GET /healthz timed out after 2s", "GET /healthz returned 500"]
    assert failed_text(details) == "3 failed checks in a row, the last: GET /healthz returned 500"


def test_counts_are_words_up_to_ten():
    assert [times(n) for n in (1, 2, 3, 10, 11)] == ["once", "twice", "three times", "ten times", "11 times"]
