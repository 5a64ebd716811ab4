"""The state declarations agree with each other and every table indexed by state covers every state."""

from __future__ import annotations

import pytest

from adapters.discord.render import colour_for
from adapters.slack.render import render as slack_render
from adapters.text_render import STATE_EMOJI, UNKNOWN_STATE_EMOJI, state_emoji
from core.errors import IllegalTransition
from core.process.events import MOVE_EVENTS, EventBus, EventKind, change_state, event_for
from core.process.states import (
    ACTIVE_STATES,
    BROKEN_STATES,
    DOWN_STATES,
    FAILED_STATES,
    MOVES,
    UP_STATES,
    ProgramState,
    State,
)
from core.reply import STATE_TONE, Reply, Table, Tone

ALL_MOVES = {(old, new) for table in MOVES.values() for old, news in table.items() for new in news}


def test_every_state_has_a_tone_and_an_emoji() -> None:
    assert set(STATE_TONE) == set(State)
    assert set(STATE_EMOJI) == set(State)


def test_the_named_sets_nest_as_their_names_say() -> None:
    assert BROKEN_STATES < FAILED_STATES - UP_STATES < DOWN_STATES
    assert {State.UNHEALTHY} == FAILED_STATES & UP_STATES  # failing, but its process is alive
    assert not UP_STATES & DOWN_STATES
    assert UP_STATES < ACTIVE_STATES
    assert {s for s in State if s.is_up} == UP_STATES


def test_tone_follows_the_sets() -> None:
    assert {s for s, t in STATE_TONE.items() if t is Tone.ERROR} == BROKEN_STATES
    assert {s for s, t in STATE_TONE.items() if t in (Tone.WARN, Tone.ERROR)} == FAILED_STATES


def test_a_state_with_the_same_tone_shows_the_same_emoji_except_on_its_way_up_or_down() -> None:
    by_tone: dict[Tone, set[str]] = {}
    for s in State:
        if s not in (State.STARTING, State.STOPPING):
            by_tone.setdefault(STATE_TONE[s], set()).add(STATE_EMOJI[s])
    assert all(len(emoji) == 1 for emoji in by_tone.values()), by_tone
    assert len({e for es in by_tone.values() for e in es}) == len(by_tone)


@pytest.mark.parametrize("state", list(State))
def test_slack_and_discord_lead_a_row_with_the_states_emoji(state: State) -> None:
    reply = Reply(title="Status", table=Table(["PROGRAM", "STATE"], [["web", state.value]], [state.value]))
    code = next(b["text"]["text"] for b in slack_render(reply).blocks if b["text"]["text"].startswith("```"))
    assert f"{STATE_EMOJI[state]} web" in code
    assert state_emoji(state.value.upper()) == STATE_EMOJI[state]


def test_a_row_that_names_no_state_gets_the_unknown_emoji() -> None:
    assert state_emoji("weird") == UNKNOWN_STATE_EMOJI


@pytest.mark.parametrize("state", sorted(FAILED_STATES))
def test_a_failing_row_raises_the_discord_colour_to_its_tone(state: State) -> None:
    ok = Reply(title="Status", tone=Tone.OK, table=Table(["P"], [["web"]], [state.value]))
    assert colour_for(ok) == colour_for(Reply(title="x", tone=STATE_TONE[state]))


def test_a_running_row_leaves_an_info_reply_blue() -> None:
    info = Reply(title="Status", tone=Tone.INFO, table=Table(["P"], [["web"]], [State.RUNNING.value]))
    assert colour_for(info) == colour_for(Reply(title="x", tone=Tone.INFO))


def test_every_allowed_move_has_its_event_declared_and_no_other_move_has_one() -> None:
    assert set(MOVE_EVENTS) == ALL_MOVES


def test_no_state_a_program_can_enter_is_a_dead_end() -> None:
    for kind, table in MOVES.items():
        states = set(table) | {n for news in table.values() for n in news}
        assert all(s in table for s in states), f"{kind}: a state it can enter but never leave"


def test_a_clean_exit_publishes_exited_where_a_crash_publishes_crashed() -> None:
    assert event_for(State.RUNNING, State.BACKOFF) is EventKind.CRASHED
    assert event_for(State.RUNNING, State.BACKOFF, clean_exit=True) is EventKind.EXITED
    assert event_for(State.RUNNING, State.FATAL, clean_exit=True) is EventKind.GAVE_UP


async def test_a_move_assigns_and_publishes_the_event_derived_from_it() -> None:
    bus = EventBus()
    q = bus.subscribe()
    st = ProgramState(name="web", kind="managed", group="g")
    change_state(st, State.STARTING, bus, 10.0, pid=42, by="me")
    ev = q.get_nowait()
    assert st.state is State.STARTING
    assert (ev.kind, ev.program, ev.at, ev.pid, ev.by, ev.group) == (EventKind.STARTED, "web", 10.0, 42, "me", "g")


async def test_stopping_publishes_nothing_until_the_stop_ends() -> None:
    bus = EventBus()
    q = bus.subscribe()
    st = ProgramState(name="web", kind="managed", state=State.RUNNING)
    change_state(st, State.STOPPING, bus, 1.0)
    assert q.empty()
    change_state(st, State.STOPPED, bus, 2.0, by="me")
    assert q.get_nowait().kind is EventKind.STOPPED


@pytest.mark.parametrize(("kind", "old", "new"), [
    ("managed", State.STOPPED, State.STOPPING),
    ("managed", State.RUNNING, State.MISSING),
    ("managed", State.RUNNING, State.RUNNING),
    ("watched", State.MISSING, State.BACKOFF),
])
def test_an_illegal_move_raises_and_leaves_the_state_as_it_was(kind: str, old: State, new: State) -> None:
    bus = EventBus()
    q = bus.subscribe()
    st = ProgramState(name="web", kind=kind, state=old)
    with pytest.raises(IllegalTransition, match=f"from {old.value} to {new.value}"):
        change_state(st, new, bus, 1.0)
    assert st.state is old and q.empty()
