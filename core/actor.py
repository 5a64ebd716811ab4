"""Who issued a command, and from where."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Decision:
    """What a fleet's front decided an actor holds on one host; the host applies it instead of its own grants.

    ``role`` holds on every program of the host; each ``scoped`` entry is a higher role on the
    programs its patterns cover (globs or ``group:NAME``, as in a grant). Read by
    :mod:`core.commands.permissions`, the one home of the rules.
    """

    role: str
    scoped: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Actor:
    """A platform identity. Grants match ``user_id`` and ``groups``, never display names.

    ``groups`` holds Slack user-group IDs or Discord role IDs the adapter
    resolved for this user. ``local`` is the host operator (CLI, console),
    who acts as admin because reaching the owner-only socket already proves it.
    ``decided`` is set on a command forwarded by the fleet's front: the role is the front's
    decision, never this host's [permissions] and never more than the front granted.
    """

    platform: str  # slack | discord | console | cli
    user_id: str
    display_name: str = ""
    groups: frozenset[str] = field(default_factory=frozenset)
    local: bool = False
    decided: Decision | None = None

    @property
    def label(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True)
class CommandContext:
    actor: Actor
    channel: str | None = None
    #: unmasked log lines: honoured only for a local actor (the control socket sets it; chat never does)
    raw: bool = False
