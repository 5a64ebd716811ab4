"""The restart decision: what a program's exit (or a refused automatic start) leads to.

Pure, like :mod:`core.alerts.storm`: no processes, no clock, no I/O. The runner gathers the facts (the
exit status, how long the run lasted, the failures so far), asks here, and then does what the
:class:`Decision` says: it changes the state, publishes, and arms the restart timer. So the rules
(supervisord's autorestart, startsecs, startretries; an exponential backoff only after quick failures)
can be read in one place and tested without spawning anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from core.process.exit_watch import ExitStatus
from core.process.states import State
from core.spec import ProgramSpec


@dataclass(frozen=True)
class Tally:
    """What the policy remembers between runs."""

    #: monotonic times of the failures inside the give-up window, oldest first
    failures: tuple[float, ...] = ()
    #: consecutive runs shorter than min_uptime (refused spawns count too); 0 after a run that lasted
    quick: int = 0

    def failed_at(self, mono: float, window: float) -> Tally:
        """One more failure at ``mono``; failures that left the window are forgotten."""
        kept = tuple(t for t in (*self.failures, mono) if t >= mono - window)
        return replace(self, failures=kept)


@dataclass(frozen=True)
class Decision:
    """What to do after an exit or a refused automatic start."""

    #: EXITED (stay down), BACKOFF (restart after ``delay``) or FATAL (gave up)
    state: State
    tally: Tally
    #: the exit was one the spec expects (an expected exit code, no signal): an "exited", not a "crash"
    clean: bool = False
    #: seconds until the restart, when ``state`` is BACKOFF
    delay: float | None = None
    #: what happens next, in words, for the event: "restart in 4s", "gave up", "policy is never"
    next_action: str = ""


@dataclass(frozen=True)
class RestartPolicy:
    """A program's restart rules, taken from its spec."""

    restart: Literal["always", "on-failure", "never"]
    expected_exit_codes: frozenset[int]
    min_uptime: float
    give_up_failures: int
    give_up_window: float
    backoff_initial: float
    backoff_factor: float
    backoff_max: float

    @classmethod
    def of(cls, spec: ProgramSpec) -> RestartPolicy:
        return cls(spec.restart, frozenset(spec.expected_exit_codes), spec.min_uptime, spec.give_up.failures,
                   spec.give_up.window, spec.backoff.initial, spec.backoff.factor, spec.backoff.max)

    def is_clean(self, status: ExitStatus) -> bool:
        """An exit the spec expects. An adopted process's status is unknown, so it never is."""
        return status.known and status.signal is None and status.exit_code in self.expected_exit_codes

    def after_exit(self, status: ExitStatus, runtime: float | None, tally: Tally, mono: float) -> Decision:
        """The run ended (not on request). ``runtime`` is None when its start is unknown."""
        clean = self.is_clean(status)
        if not (self.restart == "always" or (self.restart == "on-failure" and not clean)):
            return Decision(State.EXITED, tally, clean, next_action=f"policy is {self.restart}")
        if not clean:
            tally = tally.failed_at(mono, self.give_up_window)
        quick = runtime is not None and runtime < self.min_uptime
        tally = replace(tally, quick=tally.quick + 1 if quick else 0)
        if self.gives_up(tally):
            return Decision(State.FATAL, tally, clean, next_action="gave up")
        delay = self.backoff_delay(tally.quick)
        words = "restarting now" if delay == 0 and not clean else f"restart in {fmt_secs(delay)}"
        return Decision(State.BACKOFF, tally, clean, delay, words)

    def after_spawn_failure(self, tally: Tally, mono: float) -> Decision:
        """An automatic start the OS refused: a failure and a quick one (supervisord's startretries)."""
        tally = tally.failed_at(mono, self.give_up_window)
        tally = replace(tally, quick=tally.quick + 1)
        if self.gives_up(tally):
            return Decision(State.FATAL, tally, next_action="gave up")
        delay = self.backoff_delay(tally.quick)
        return Decision(State.BACKOFF, tally, delay=delay, next_action=f"retrying in {fmt_secs(delay)}")

    def gives_up(self, tally: Tally) -> bool:
        return len(tally.failures) >= self.give_up_failures

    def backoff_delay(self, quick: int) -> float:
        """No wait after a stable run (like supervisord); exponential after quick failures."""
        if quick == 0:
            return 0.0
        return float(min(self.backoff_initial * (self.backoff_factor ** (quick - 1)), self.backoff_max))

    def gave_up_message(self, failures: int, why: str = "") -> str:
        """The FATAL state's message; ``why`` is the last refused start's reason, if that was the failure."""
        lead = f"{why}; " if why else ""
        return f"{lead}gave up after {failures} failures in {fmt_secs(self.give_up_window)}; start it by hand"


def fmt_secs(s: float) -> str:
    if s < 1:
        return f"{s:.1f}s" if s else "0s"
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.0f}m"
    return f"{s / 3600:.1f}h"
