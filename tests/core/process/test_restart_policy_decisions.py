"""The restart decision, without processes: what an exit or a refused automatic start leads to."""

from __future__ import annotations

from bot.config_loader import config_from_dict
from core.process.exit_watch import ExitStatus
from core.process.restart_policy import RestartPolicy, Tally
from core.process.states import State

CLEAN = ExitStatus(0, None)
CRASH = ExitStatus(3, None)
KILLED = ExitStatus(None, "SIGKILL")
ADOPTED_GONE = ExitStatus(None, None, known=False)


def policy(**spec: object) -> RestartPolicy:
    config = config_from_dict({"program": [{"name": "p", "command": ["true"], **spec}]}, "t.toml")
    return RestartPolicy.of(config.program[0])


def test_a_crash_after_a_stable_run_restarts_at_once() -> None:
    d = policy(min_uptime=1).after_exit(CRASH, 30.0, Tally(), mono=100.0)
    assert (d.state, d.delay, d.clean, d.next_action) == (State.BACKOFF, 0.0, False, "restarting now")
    assert d.tally == Tally(failures=(100.0,), quick=0)


def test_quick_crashes_back_off_exponentially_up_to_the_maximum() -> None:
    p = policy(min_uptime=5, backoff={"initial": 0.5, "factor": 3, "max": 4}, give_up={"failures": 50})
    tally, delays = Tally(), []
    for i in range(4):
        d = p.after_exit(CRASH, 0.1, tally, mono=float(i))
        tally = d.tally
        delays.append(d.delay)
    assert delays == [0.5, 1.5, 4.0, 4.0]
    assert d.next_action == "restart in 4s"


def test_a_run_that_lasted_min_uptime_resets_the_backoff() -> None:
    p = policy(min_uptime=5, backoff={"initial": 1, "factor": 2, "max": 60})
    d = p.after_exit(CRASH, 10.0, Tally(failures=(1.0, 2.0), quick=3), mono=20.0)
    assert d.tally.quick == 0 and d.delay == 0.0
    assert d.tally.failures == (1.0, 2.0, 20.0)  # the give-up window still counts it


def test_gives_up_when_the_failures_in_the_window_reach_the_limit() -> None:
    p = policy(give_up={"failures": 3, "window": 60})
    d = p.after_exit(KILLED, 0.1, Tally(failures=(10.0, 20.0), quick=2), mono=30.0)
    assert (d.state, d.next_action, d.delay) == (State.FATAL, "gave up", None)
    assert p.gave_up_message(len(d.tally.failures)) == "gave up after 3 failures in 60s; start it by hand"


def test_failures_older_than_the_window_are_forgotten() -> None:
    p = policy(give_up={"failures": 3, "window": 60})
    d = p.after_exit(CRASH, 0.1, Tally(failures=(10.0, 20.0), quick=2), mono=75.0)
    assert d.state is State.BACKOFF
    assert d.tally.failures == (20.0, 75.0)


def test_an_expected_exit_under_on_failure_stays_down_and_counts_nothing() -> None:
    tally = Tally(failures=(1.0,), quick=2)
    d = policy(restart="on-failure").after_exit(CLEAN, 0.1, tally, mono=5.0)
    assert (d.state, d.clean, d.next_action, d.delay) == (State.EXITED, True, "policy is on-failure", None)
    assert d.tally == tally


def test_a_crash_under_never_stays_down_as_a_crash() -> None:
    d = policy(restart="never").after_exit(CRASH, 0.1, Tally(), mono=5.0)
    assert (d.state, d.clean, d.next_action) == (State.EXITED, False, "policy is never")


def test_an_expected_exit_under_always_restarts_without_counting_a_failure() -> None:
    d = policy(restart="always", min_uptime=0).after_exit(CLEAN, 3.0, Tally(), mono=5.0)
    assert (d.state, d.clean, d.delay, d.next_action) == (State.BACKOFF, True, 0.0, "restart in 0s")
    assert d.tally.failures == ()


def test_listed_exit_codes_are_expected_and_a_signal_never_is() -> None:
    p = policy(expected_exit_codes=[0, 2])
    assert p.is_clean(ExitStatus(2, None)) and not p.is_clean(ExitStatus(1, None))
    assert not p.is_clean(KILLED)


def test_an_adopted_process_whose_status_is_unknown_counts_as_a_crash() -> None:
    p = policy(restart="on-failure")
    assert not p.is_clean(ADOPTED_GONE)
    assert p.after_exit(ADOPTED_GONE, None, Tally(), mono=1.0).state is State.BACKOFF


def test_an_unknown_runtime_is_not_a_quick_failure() -> None:
    d = policy(min_uptime=5).after_exit(ADOPTED_GONE, None, Tally(quick=2), mono=1.0)
    assert d.tally.quick == 0 and d.delay == 0.0


def test_a_refused_automatic_start_is_a_quick_failure_retried_with_the_backoff() -> None:
    p = policy(backoff={"initial": 2, "factor": 2, "max": 60}, give_up={"failures": 5})
    d = p.after_spawn_failure(Tally(failures=(1.0,), quick=1), mono=2.0)
    assert (d.state, d.delay, d.next_action) == (State.BACKOFF, 4.0, "retrying in 4s")
    assert d.tally == Tally(failures=(1.0, 2.0), quick=2)


def test_refused_starts_give_up_by_the_same_rule() -> None:
    p = policy(give_up={"failures": 2, "window": 60})
    d = p.after_spawn_failure(Tally(failures=(1.0,), quick=1), mono=2.0)
    assert d.state is State.FATAL
    assert p.gave_up_message(2, "cannot start `p`: executable 'x' not found") == (
        "cannot start `p`: executable 'x' not found; gave up after 2 failures in 60s; start it by hand")
