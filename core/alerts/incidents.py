"""Incidents (one per crash episode of a program) and alert groups (storms).

An incident is what makes alerts idempotent across restarts: it is written
before any message is queued, and remembers the outbox entries of the
messages it produced (``roots``), so a restarted procbot updates the same
chat message instead of posting a new one. Its SQL is in
:mod:`core.store.incidents`; :class:`IncidentStore` is re-exported here for
the alert code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.store.incidents import IncidentStore

__all__ = ["FAILURE_KINDS", "AlertGroup", "Incident", "IncidentStore"]

#: event kinds that open or extend an incident (unhealthy: once per episode, never per failed probe)
FAILURE_KINDS = ("crashed", "gave_up", "spawn_failed", "watch_lost", "orphan_stopped", "memory_limit", "unhealthy")


@dataclass
class Incident:
    program: str
    opened_at: float
    updated_at: float
    group: str | None = None
    kind: str = "managed"                 # managed | watched
    id: int = 0
    resolved_at: float | None = None
    resolution: str = ""                  # "running again", "stopped by slack:U1", ...
    crashes: int = 1
    last_failure_at: float = 0.0
    cause: str = "crashed"                # kind of the last failure event
    exit_code: int | None = None
    signal: str | None = None
    oom: bool = False                     # SIGKILL and the kernel's OOM-kill counter moved
    oom_kills: int = 0                    # OOM kills counted in the program's own cgroup during the run (exact)
    runtime: float | None = None
    restarts: int = 0
    failures_in_window: int = 0
    next_action: str = ""
    message: str = ""
    pid: int | None = None
    log_lines: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)
    roots: dict[str, int] = field(default_factory=dict)        # destination -> outbox id of the alert
    recoveries: dict[str, int] = field(default_factory=dict)   # destination -> outbox id of the thread reply
    group_id: int | None = None           # folded into this alert group (storm)
    held: bool = False                    # waiting briefly to see whether a storm is starting
    suppressed: bool = False              # a message was held back by a silence
    announced_at: float | None = None     # last time a new message (alert or reminder) was posted
    reminders: int = 0
    reopened: int = 0

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @property
    def posted(self) -> bool:
        return bool(self.roots)


@dataclass
class AlertGroup:
    """One alert for many programs failing together on the same route."""

    opened_at: float
    updated_at: float
    destinations: list[str]
    id: int = 0
    resolved_at: float | None = None
    members: list[int] = field(default_factory=list)           # incident ids, in joining order
    roots: dict[str, int] = field(default_factory=dict)
    recoveries: dict[str, int] = field(default_factory=dict)
    last_join_at: float = 0.0
    announced_at: float | None = None
    reminders: int = 0

    @property
    def route_key(self) -> tuple[str, ...]:
        return tuple(self.destinations)
