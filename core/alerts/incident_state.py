"""What chat has been told about an incident: one named state instead of four flags.

An incident's delivery used to be read from ``held``, ``suppressed``,
``posted`` and ``group_id`` together, in every method that needed it. Here
it is one :class:`IncidentState`, like httpx's ``ClientState``: derived in
memory from the stored fields (no schema change: ``held`` and ``suppressed``
stay in ``state_json`` as its encoding), changed only by :func:`move`, which
checks the allowed transitions so an illegal move is loud.

Whether the incident is open (``resolved_at``) is a separate fact: a held
alert may end resolved and is then posted as it reads ("recovered").

Pure, no I/O, like :mod:`core.alerts.grouping`.
"""

from __future__ import annotations

from enum import StrEnum

from core.alerts.incidents import Incident


class IncidentState(StrEnum):
    UNANNOUNCED = "unannounced"          # nothing queued yet (new, or its first post never got queued)
    HELD = "held"                        # waiting briefly to see whether a storm is starting
    GROUPED = "grouped"                  # told through an alert group (storm)
    SILENCED = "silenced"                # a silence held back its first alert
    ANNOUNCED = "announced"              # has its own alert message
    REMINDER_SILENCED = "reminder_silenced"  # has its alert; a silence held back a reminder


class Say(StrEnum):
    """A new message about an incident (edits notify nobody and are not one of these)."""

    ALERT = "alert"
    REMINDER = "reminder"
    AFTER_SILENCE = "after_silence"      # the reminder a silence held back
    RECOVERY = "recovery"


S = IncidentState

#: every allowed move; staying in the same state is always allowed
TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    S.UNANNOUNCED: frozenset({S.HELD, S.GROUPED, S.SILENCED, S.ANNOUNCED}),
    S.HELD: frozenset({S.ANNOUNCED,        # HOLD -> ANNOUNCED: the hold ended without a storm
                       S.GROUPED,          # HOLD -> GROUPED: the storm came
                       S.UNANNOUNCED}),    # HOLD -> UNANNOUNCED: procbot restarted, its timer is gone
    S.GROUPED: frozenset({S.UNANNOUNCED}),  # its group is over and forgotten: alone now
    S.SILENCED: frozenset({S.ANNOUNCED,     # the silence ended while it was open
                           S.UNANNOUNCED}),  # it ended first: nothing retroactive
    S.ANNOUNCED: frozenset({S.REMINDER_SILENCED}),
    S.REMINDER_SILENCED: frozenset({S.ANNOUNCED}),
}

#: what a silence turns a held-back message into
MUTED: dict[Say, IncidentState] = {
    Say.ALERT: S.SILENCED,
    Say.REMINDER: S.REMINDER_SILENCED,
    Say.AFTER_SILENCE: S.REMINDER_SILENCED,
}


class IllegalIncidentMove(Exception):
    """A stage tried a move the table does not allow: a bug in the alert policy, never a user error."""


def state_of(inc: Incident) -> IncidentState:
    if inc.group_id is not None:
        return S.GROUPED
    if inc.held:
        return S.HELD
    if inc.roots:
        return S.REMINDER_SILENCED if inc.suppressed else S.ANNOUNCED
    return S.SILENCED if inc.suppressed else S.UNANNOUNCED


def move(inc: Incident, to: IncidentState, *, group_id: int | None = None) -> None:
    """The only place that writes the stored encoding of an incident's state.

    ANNOUNCED needs the alert's ``roots`` written first (they are its
    messages); GROUPED needs ``group_id``.
    """
    frm = state_of(inc)
    if to is not frm and to not in TRANSITIONS[frm]:
        raise IllegalIncidentMove(f"incident {inc.id} of {inc.program}: {frm} -> {to}")
    if to is S.GROUPED and group_id is None:
        raise IllegalIncidentMove(f"incident {inc.id} of {inc.program}: grouped without a group")
    inc.held = to is S.HELD
    inc.suppressed = to in (S.SILENCED, S.REMINDER_SILENCED)
    inc.group_id = group_id if to is S.GROUPED else None


def resolve(inc: Incident, at: float, resolution: str) -> None:
    """Close the incident; what a silence held back is dropped (nothing retroactive once it is over)."""
    inc.resolved_at, inc.resolution, inc.updated_at = at, resolution, at
    state = state_of(inc)
    if state is S.SILENCED:
        move(inc, S.UNANNOUNCED)
    elif state is S.REMINDER_SILENCED:
        move(inc, S.ANNOUNCED)


def reopen(inc: Incident) -> None:
    """A failure within the flap window after it recovered: the same incident again."""
    inc.resolved_at, inc.resolution = None, ""
    inc.reopened += 1


def due(inc: Incident, now: float, repeat_interval: float) -> Say | None:
    """The new message an open incident is owed at a periodic check, if any."""
    state = state_of(inc)
    if state in (S.UNANNOUNCED, S.SILENCED):
        return Say.ALERT  # never queued (the registry failed), or a silence held it back
    if state is S.REMINDER_SILENCED:
        return Say.AFTER_SILENCE
    if state is S.ANNOUNCED and inc.announced_at is not None and now - inc.announced_at >= repeat_interval:
        return Say.REMINDER
    return None  # held or grouped: the hold or the group speaks for it
