"""Reply -> Discord embeds/buttons, grammar text from options, and the invite URL (no network)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import discord
import pytest

from adapters.discord.adapter import command_text
from adapters.discord.invite import invite_url
from adapters.discord.render import (
    MAX_DESCRIPTION,
    MAX_EMBEDS,
    MAX_FIELD_VALUE,
    MAX_FIELDS,
    MAX_TITLE,
    MAX_TOTAL,
    CustomIds,
    inert,
    render,
    total_chars,
)
from adapters.text_render import STATE_EMOJI
from core.errors import InvalidInput
from core.process.states import State
from core.reply import Button, Field, Reply, Table, Tone


def within_limits(embeds: list[discord.Embed]) -> bool:
    return (
        1 <= len(embeds) <= MAX_EMBEDS
        and total_chars(embeds) <= MAX_TOTAL
        and all(len(e.description or "") <= MAX_DESCRIPTION for e in embeds)
        and all(len(e.fields) <= MAX_FIELDS for e in embeds)
        and all(len(f.value or "") <= MAX_FIELD_VALUE for e in embeds for f in e.fields)
        and all(len(e.title or "") <= MAX_TITLE for e in embeds)
    )


STATUS = Reply(
    title="Status",
    tone=Tone.OK,
    table=Table(["PROGRAM", "STATE", "PID"], [["web", "running", "12"], ["db", "backoff", "-"]],
                ["running", "backoff"]),
)


async def test_a_table_becomes_an_aligned_code_block_with_state_emoji() -> None:
    (embed,) = render(STATUS).embeds
    up, back = STATE_EMOJI[State.RUNNING], STATE_EMOJI[State.BACKOFF]
    assert embed.description == (f"```\n   PROGRAM  STATE    PID\n{up} web      running  12\n"
                                 f"{back} db       backoff  -\n```")


async def test_colour_follows_the_tone_raised_by_the_worst_state() -> None:
    assert render(Reply(title="ok", tone=Tone.OK)).embeds[0].colour == discord.Colour(0x2ECC71)
    assert render(STATUS).embeds[0].colour == discord.Colour(0xF1C40F)  # OK tone, but one program in backoff
    assert render(Reply(title="x", tone=Tone.ERROR)).embeds[0].colour == discord.Colour(0xE74C3C)


async def test_fields_keep_their_names_values_and_inline_flags() -> None:
    (embed,) = render(Reply(title="web", fields=[Field("State", "running"), Field("Cmd", "a b", False)])).embeds
    assert [(f.name, f.value, f.inline) for f in embed.fields] == [("State", "running", True), ("Cmd", "a b", False)]


async def test_long_logs_keep_the_newest_lines_within_every_limit() -> None:
    code = "\n".join(f"line {i:05d} " + "y" * 150 for i in range(3000))
    r = render(Reply(title="Last 3000 log lines of web", code=code))
    assert within_limits(r.embeds) and r.truncated
    text = "\n".join(e.description or "" for e in r.embeds)
    assert "line 02999" in text and "line 00000" not in text and "earlier lines not shown" in text


async def test_a_huge_table_keeps_the_first_rows_and_says_how_many_are_hidden() -> None:
    rows = [[f"prog-{i:04d}", "running", str(1000 + i), "x" * 30] for i in range(500)]
    r = render(Reply(title="Status", table=Table(["P", "S", "PID", "D"], rows, ["running"] * 500)))
    assert within_limits(r.embeds) and r.truncated
    text = "\n".join(e.description or "" for e in r.embeds)
    shown = sum(1 for i in range(500) if f"prog-{i:04d}" in text)
    assert "prog-0000" in text and f"{500 - shown} more rows not shown" in text


async def test_text_table_and_code_together_stay_within_limits() -> None:
    r = render(Reply(title="t" * 300, text="word " * 2000, fields=[Field(f"f{i}", "v" * 2000) for i in range(30)],
                     table=Table(["A"], [["row"]] * 400, []), code="c" * 100 + "\n" * 500))
    assert within_limits(r.embeds) and r.truncated
    assert r.embeds[0].fields[-1].value.endswith("more not shown")


async def test_more_than_25_fields_end_with_a_count_of_the_rest() -> None:
    (embed,) = render(Reply(title="info", fields=[Field(f"f{i}", "v") for i in range(30)])).embeds
    assert len(embed.fields) == MAX_FIELDS and embed.fields[-1].value == "6 more not shown"


async def test_an_over_long_field_value_is_cut_to_1024() -> None:
    (embed,) = render(Reply(title="info", fields=[Field("Command", "x" * 5000)])).embeds
    assert len(embed.fields[0].value or "") == MAX_FIELD_VALUE and (embed.fields[0].value or "").endswith("…")


async def test_markdown_and_mentions_outside_code_are_escaped() -> None:
    out = inert("**bold** @everyone <@123456789012345678> <@&123456789012345678> [x](https://e.com)\n# big\n> q")
    assert "\\*\\*bold\\*\\*" in out
    assert "@everyone" not in out and "@\u200beveryone" in out
    assert "<@123456789012345678>" not in out and "<@&123456789012345678>" not in out
    assert "\\[x]" in out and "\n\\# big" in out and "\n\\> q" in out


async def test_inline_code_from_core_is_kept_as_code() -> None:
    assert inert("Usage: `logs <program> [lines]` then *more*") == "Usage: `logs <program> [lines]` then \\*more\\*"


async def test_backticks_inside_code_blocks_cannot_close_the_fence() -> None:
    (embed,) = render(Reply(title="logs", code="before\n```\n@everyone **x**\n```")).embeds
    assert embed.description is not None and embed.description.count("```") == 2


async def test_buttons_carry_prefixed_values_and_mapped_styles() -> None:
    view = render(Reply(title="?", buttons=[Button("Confirm", "confirm:t1", "danger"),
                                            Button("Cancel", "cancel:t1")])).view
    assert view is not None and view.is_finished()  # not kept in discord.py's view store
    items = [c for c in view.children if isinstance(c, discord.ui.Button)]
    assert [(b.label, b.custom_id, b.style) for b in items] == [
        ("Confirm", "procbot:confirm:t1", discord.ButtonStyle.danger),
        ("Cancel", "procbot:cancel:t1", discord.ButtonStyle.secondary),
    ]


async def test_a_reply_without_buttons_renders_no_view() -> None:
    assert render(Reply(title="x")).view is None


def test_a_value_too_long_for_a_custom_id_is_remembered_and_decoded() -> None:
    ids = CustomIds()
    value = "cmd:restart " + "p" * 150
    cid = ids.encode(value)
    assert len(cid) <= 100 and ids.decode(cid) == value
    assert ids.decode("procbot:cmd:logs web") == "cmd:logs web"
    assert ids.decode("someone-else:x") is None


@pytest.mark.parametrize(
    ("verb", "args", "public", "text"),
    [
        ("status", [None], False, "status"),
        ("status", ["group:workers"], True, "status group:workers --public"),
        ("logs", ["web", 50], False, "logs web 50"),
        ("silence", ["web", "2h", "deploy in progress"], False, "silence web 2h deploy in progress"),
        ("restart", ["all --yes"], False, "restart all\u2423--yes"),
        ("restart", ["--yes"], False, "restart \u2212-yes"),
        ("silence", ["web", "1h", "x --yes"], False, "silence web 1h x \u2212-yes"),
        ("help", [None], False, "help"),
    ],
)
def test_options_become_grammar_text_without_smuggled_words(
    verb: str, args: list[str | int | None], public: bool, text: str
) -> None:
    assert command_text(verb, args, public=public) == text


def test_the_invite_url_asks_for_exactly_the_needed_scopes_and_permissions() -> None:
    url = urlparse(invite_url("123456789012345678"))
    q = parse_qs(url.query)
    assert url.netloc == "discord.com" and url.path == "/oauth2/authorize"
    assert q["client_id"] == ["123456789012345678"]
    assert q["scope"] == ["bot applications.commands"]
    # View Channels, Send Messages, Embed Links, Read Message History, Send Messages in Threads
    assert int(q["permissions"][0]) == (1 << 10) | (1 << 11) | (1 << 14) | (1 << 16) | (1 << 38)


def test_an_invite_for_a_non_id_is_refused() -> None:
    with pytest.raises(InvalidInput):
        invite_url("my-bot")
