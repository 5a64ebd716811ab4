"""The incident state machine on its own: what chat has been told, and which moves are allowed."""

from __future__ import annotations

import pytest

from core.alerts.incident_state import (
    MUTED,
    TRANSITIONS,
    IllegalIncidentMove,
    IncidentState,
    Say,
    due,
    move,
    resolve,
    state_of,
)
from core.alerts.incidents import Incident

S = IncidentState


def incident(**fields: object) -> Incident:
    return Incident("web", 0.0, 0.0, id=7, destinations=["slack:C1"], **fields)  # type: ignore[arg-type]


def test_a_new_incident_is_unannounced_and_its_first_alert_makes_it_announced():
    inc = incident()
    assert state_of(inc) is S.UNANNOUNCED
    inc.roots["slack:C1"] = 1
    move(inc, S.ANNOUNCED)
    assert state_of(inc) is S.ANNOUNCED


def test_every_state_reads_back_from_the_stored_fields_it_writes():
    for frm, targets in TRANSITIONS.items():
        for to in targets:
            inc = incident()
            _enter(inc, frm)
            if to in (S.ANNOUNCED, S.REMINDER_SILENCED):
                inc.roots["slack:C1"] = 1
            move(inc, to, group_id=3 if to is S.GROUPED else None)
            assert state_of(inc) is to, (frm, to)


def test_a_move_the_table_does_not_allow_is_refused_loudly():
    inc = incident()
    inc.roots["slack:C1"] = 1
    move(inc, S.ANNOUNCED)
    with pytest.raises(IllegalIncidentMove):
        move(inc, S.HELD)
    with pytest.raises(IllegalIncidentMove):
        move(incident(), S.GROUPED)  # a group is needed


def test_resolving_drops_what_a_silence_held_back():
    silenced, reminder_held = incident(), incident()
    move(silenced, S.SILENCED)
    _enter(reminder_held, S.REMINDER_SILENCED)

    resolve(silenced, 5.0, "running again")
    resolve(reminder_held, 5.0, "running again")

    assert (state_of(silenced), state_of(reminder_held)) == (S.UNANNOUNCED, S.ANNOUNCED)
    assert not silenced.open and silenced.resolution == "running again"


def test_a_held_alert_stays_held_when_the_program_recovers_first():
    inc = incident()
    move(inc, S.HELD)
    resolve(inc, 5.0, "running again")
    assert state_of(inc) is S.HELD  # the hold's end posts it as it then reads


def test_the_periodic_check_owes_an_alert_a_reminder_or_nothing():
    assert due(incident(), 0.0, 60) is Say.ALERT
    silenced = incident()
    move(silenced, S.SILENCED)
    assert due(silenced, 0.0, 60) is Say.ALERT
    posted = incident(announced_at=100.0)
    _enter(posted, S.ANNOUNCED)
    assert due(posted, 159.0, 60) is None
    assert due(posted, 160.0, 60) is Say.REMINDER
    _enter(posted, S.REMINDER_SILENCED)
    assert due(posted, 0.0, 60) is Say.AFTER_SILENCE
    held, grouped = incident(), incident()
    move(held, S.HELD)
    move(grouped, S.GROUPED, group_id=3)
    assert due(held, 1e9, 60) is None and due(grouped, 1e9, 60) is None


def test_a_silence_holds_back_alerts_and_reminders_into_states_the_table_allows():
    for say, held_back in MUTED.items():
        frm = S.UNANNOUNCED if say is Say.ALERT else S.ANNOUNCED
        assert held_back in TRANSITIONS[frm] or held_back is frm, say


def _enter(inc: Incident, state: IncidentState) -> None:
    """Put ``inc`` in ``state`` the way the stages do."""
    if state in (S.ANNOUNCED, S.REMINDER_SILENCED):
        inc.roots["slack:C1"] = 1
        move(inc, S.ANNOUNCED)
        if state is S.REMINDER_SILENCED:
            move(inc, S.REMINDER_SILENCED)
    elif state is S.GROUPED:
        move(inc, S.GROUPED, group_id=3)
    elif state is not S.UNANNOUNCED:
        move(inc, state)
