"""Reply -> Block Kit: layout, Slack's size limits, and inert user text."""

from __future__ import annotations

import json
from typing import Any

from adapters.slack.render import (
    MAX_BLOCKS,
    MAX_TEXT,
    code_safe,
    escape,
    inert,
    pack_lines,
    render,
)
from adapters.text_render import STATE_EMOJI
from core.process.states import State
from core.reply import Button, Field, Reply, Table, Tone


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text string in the blocks (section texts, fields, context elements)."""
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        out += [f["text"] for f in b.get("fields", [])]
        out += [e["text"] for e in b.get("elements", []) if e.get("type") == "mrkdwn"]
    return out


def status_reply(n: int = 3) -> Reply:
    states = ["running", "backoff", "fatal", "stopped", "spawn-error", "starting"]
    rows = [[f"prog-{i}", states[i % len(states)], str(1000 + i)] for i in range(n)]
    return Reply(title="Status", table=Table(["PROGRAM", "STATE", "PID"], rows, [r[1] for r in rows]))


def test_status_table_is_an_aligned_code_block_with_state_emoji() -> None:
    blocks = render(status_reply(6)).blocks
    table = next(t for t in texts(blocks) if t.startswith("```"))
    lines = table.strip("`\n").split("\n")
    assert lines[0] == "   PROGRAM  STATE        PID"
    assert lines[1] == f"{STATE_EMOJI[State.RUNNING]} prog-0   running      1000"
    assert lines[2].startswith(f"{STATE_EMOJI[State.BACKOFF]} prog-1   backoff")
    assert lines[3].startswith(f"{STATE_EMOJI[State.FATAL]} prog-2   fatal")
    assert lines[4].startswith(f"{STATE_EMOJI[State.STOPPED]} prog-3   stopped")
    assert lines[5].startswith(f"{STATE_EMOJI[State.SPAWN_ERROR]} prog-4   spawn-error")
    assert lines[6].startswith(f"{STATE_EMOJI[State.STARTING]} prog-5   starting")


def test_title_carries_the_tone_emoji() -> None:
    blocks = render(Reply(title="Nope", tone=Tone.ERROR, ok=False)).blocks
    assert blocks[0]["text"]["text"] == ":x: *Nope*"


def test_fields_become_section_fields_ten_at_most_per_section() -> None:
    fields = [Field(f"F{i}", f"v{i}") for i in range(12)]
    blocks = render(Reply(title="Info", fields=fields)).blocks
    sections = [b for b in blocks if "fields" in b]
    assert [len(s["fields"]) for s in sections] == [10, 2]
    assert sections[0]["fields"][0]["text"] == "*F0*\nv0"


def test_a_wide_field_gets_its_own_section_between_inline_ones() -> None:
    fields = [Field("State", "running"), Field("Command", "python -m web", inline=False), Field("PID", "1")]
    blocks = render(Reply(title="Info", fields=fields)).blocks[1:]
    assert [("fields" in b) for b in blocks] == [True, False, True]
    assert blocks[1]["text"]["text"] == "*Command*\npython -m web"


def test_an_overlong_field_value_is_clipped_to_slacks_limit() -> None:
    blocks = render(Reply(title="Info", fields=[Field("Note", "<" * 5000)])).blocks
    text = blocks[1]["fields"][0]["text"]
    assert len(text) <= 2000 and text.endswith("\u2026")


def test_code_is_a_code_block_that_log_output_cannot_close() -> None:
    blocks = render(Reply(title="Logs", code="line 1\n```\n*not bold* <!here>")).blocks
    code = texts(blocks)[-1]
    assert code.startswith("```\n") and code.endswith("\n```")
    inner = code[4:-4]
    assert "`" not in inner
    assert "<!here>" not in inner and "&lt;!here&gt;" in inner


def test_buttons_become_an_actions_block_with_ids_values_and_styles() -> None:
    reply = Reply(title="Restart 3 programs?", buttons=[
        Button("Confirm", "confirm:tok", "danger"), Button("Cancel", "cancel:tok")])
    actions = render(reply).blocks[-1]
    assert actions["type"] == "actions"
    confirm, cancel = actions["elements"]
    assert (confirm["action_id"], confirm["value"], confirm["style"]) == ("procbot:0", "confirm:tok", "danger")
    assert (cancel["action_id"], cancel["value"]) == ("procbot:1", "cancel:tok")
    assert "style" not in cancel


def test_mentions_and_links_in_any_text_are_escaped() -> None:
    evil = "<!channel> <@U123> <!subteam^S1> <https://evil.test|click> & co"
    reply = Reply(title=evil, text=evil, fields=[Field(evil, evil)], code=evil,
                  table=Table(["A"], [[evil]], ["running"]))
    dumped = json.dumps(render(reply).blocks) + render(reply).text
    assert "<" not in dumped and ">" not in dumped
    assert "&lt;!channel&gt;" in dumped and "&amp; co" in dumped


def test_markdown_in_user_text_is_neutralised_but_names_keep_their_underscores() -> None:
    out = inert("*bold* _italic_ ~strike~ my_prog_name\n> quote")
    assert "*" not in out and "~" not in out
    assert "_italic_" not in out
    assert "my_prog_name" in out
    assert "\n>" not in out and "\n&gt;" not in out


def test_inline_code_written_by_the_dispatcher_stays_code() -> None:
    assert inert("Unknown command `sttaus`. Try `help`.") == "Unknown command `sttaus`. Try `help`."
    assert inert("`<!channel>`") == "`&lt;!channel&gt;`"


def test_mrkdwn_texts_are_verbatim_so_slack_does_not_autolink() -> None:
    blocks = render(Reply(title="t", text="see #general and https://x.test", fields=[Field("a", "b")])).blocks
    objs = [b["text"] for b in blocks if "text" in b] + [f for b in blocks for f in b.get("fields", [])]
    assert objs and all(o["verbatim"] is True for o in objs)


def test_long_logs_are_split_within_slack_limits_keeping_the_newest_lines() -> None:
    lines = [f"{i:05d} " + "x" * 150 for i in range(5000)]
    blocks = render(Reply(title="Logs", code="\n".join(lines))).blocks
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(t) <= MAX_TEXT for t in texts(blocks))
    joined = "\n".join(texts(blocks))
    assert "04999 " in joined and "00000 " not in joined
    assert "earlier lines not shown" in joined


def test_a_long_table_repeats_its_header_in_every_block() -> None:
    blocks = render(status_reply(200)).blocks
    tables = [t for t in texts(blocks) if t.startswith("```")]
    assert len(tables) > 1
    assert all(t.split("\n")[1].strip().startswith("PROGRAM") for t in tables)
    assert all(len(t) <= MAX_TEXT for t in texts(blocks))


def test_an_enormous_table_is_truncated_with_a_note_and_keeps_its_buttons() -> None:
    reply = status_reply(5000)
    reply.buttons = [Button("Refresh", "cmd:status")]
    blocks = render(reply).blocks
    assert len(blocks) <= MAX_BLOCKS
    assert blocks[-1]["type"] == "actions"
    assert any("more rows not shown" in t for t in texts(blocks))


def test_long_text_is_split_across_sections() -> None:
    text = "\n".join("word " * 100 for _ in range(100))
    blocks = render(Reply(title="t", text=text)).blocks
    assert len(blocks) > 2
    assert all(len(t) <= MAX_TEXT for t in texts(blocks))


def test_splitting_never_cuts_an_html_entity() -> None:
    line = escape("<" * 2000)
    for chunk in pack_lines([line], 2999):
        assert chunk.count("&") == chunk.count("&lt;")


def test_code_safe_escapes_reserved_characters_and_backticks() -> None:
    assert code_safe("a & b <c> `d`") == "a &amp; b &lt;c&gt; \u02cbd\u02cb"


def test_fallback_text_is_short_and_inert() -> None:
    msg = render(Reply(title="Crashed <!channel>", text="x" * 5000 + "\nmore"))
    assert len(msg.text) <= 320
    assert "<!channel>" not in msg.text
