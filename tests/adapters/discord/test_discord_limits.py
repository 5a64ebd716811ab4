"""Output over Discord's limits, and user/program text that must stay inert, end to end."""

from __future__ import annotations

import sys
from typing import Any

from adapters.discord.render import MAX_DESCRIPTION, MAX_EMBEDS, MAX_TOTAL
from core.process.logs import log_path
from tests.fakes.discord_harness import discord_procbot
from tests.fakes.discord_server import InteractionRecord
from tests.helpers import wait_for


def embed_chars(embed: dict[str, Any]) -> int:
    n = len(embed.get("title") or "") + len(embed.get("description") or "")
    n += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields") or [])
    return n + len((embed.get("footer") or {}).get("text") or "")


def assert_within_limits(rec: InteractionRecord) -> None:
    embeds = rec.embeds
    assert 1 <= len(embeds) <= MAX_EMBEDS
    assert all(len(e.get("description") or "") <= MAX_DESCRIPTION for e in embeds)
    assert sum(embed_chars(e) for e in embeds) <= MAX_TOTAL


def printer(name: str, script: str) -> dict[str, Any]:
    body = f"import sys, time\n{script}\nsys.stdout.flush()\nwhile True: time.sleep(3600)"
    return {"name": name, "command": [sys.executable, "-c", body]}


async def wait_logged(h: Any, name: str, text: str) -> None:
    path = log_path(h.app.config.log_dir, name)
    await wait_for(lambda: path.exists() and text in path.read_text(errors="replace"), timeout=10)


async def test_a_thousand_long_log_lines_are_cut_to_the_newest_within_limits(make_app: Any) -> None:
    chatty = printer("chatty", "for i in range(1500): print(f'line {i:04d} ' + 'x' * 120)")
    async with discord_procbot(make_app, programs=[chatty]) as h:
        await wait_logged(h, "chatty", "line 1499")
        rec = await h.command("logs", {"program": "chatty", "lines": 1000}, user=h.viewer)
        assert_within_limits(rec)
        text = rec.text()
        assert "line 1499" in text and "line 0500 " not in text
        assert "earlier lines not shown" in text


async def test_status_of_a_hundred_programs_fits_one_message_with_a_note(make_app: Any) -> None:
    names = [f"service-with-a-long-name-{i:03d}" for i in range(100)]
    programs = [{"name": n, "command": ["sleep", "3600"], "min_uptime": 0} for n in names]
    async with discord_procbot(make_app, programs=programs) as h:
        rec = await h.command("status", user=h.viewer)
        assert_within_limits(rec)
        text = rec.text()
        shown = sum(1 for n in names if f" {n} " in text)
        hidden = int(text.split("*… ")[1].split(" more rows not shown")[0])
        assert names[0] in text and shown + hidden == 100 and hidden > 0


async def test_mentions_and_fences_in_log_output_stay_inside_the_code_block(make_app: Any) -> None:
    evil = printer("evil", "print('@everyone ``` **bold** <@&900000000000000001> @here')")
    async with discord_procbot(make_app, programs=[evil]) as h:
        await wait_logged(h, "evil", "@here")
        rec = await h.command("logs", {"program": "evil"}, user=h.viewer)
        (embed,) = rec.embeds
        desc = embed["description"]
        assert desc.startswith("```") and desc.endswith("```") and desc.count("```") == 2
        assert "@everyone" in desc  # shown as text, inside the block
        assert rec.callbacks[0]["data"]["allowed_mentions"] == {"parse": []}


async def test_a_silence_reason_with_mentions_and_markdown_is_shown_inert(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[printer("web", "")]) as h:
        reason = "@everyone **now** <@123456789012345678> # big"
        done = await h.command("silence", {"target": "web", "duration": "1h", "reason": reason})
        assert "Silenced web" in done.text()
        rec = await h.command("silences", user=h.viewer)
        desc = rec.embeds[0]["description"]
        block = desc.split("```")[1]
        assert "@everyone **now** <@123456789012345678>" in block  # verbatim, in monospace, no ping
        assert rec.callbacks[0]["data"]["allowed_mentions"] == {"parse": []}


async def test_deferred_results_are_sent_without_pings_too(make_app: Any) -> None:
    async with discord_procbot(make_app, programs=[printer("web", "")]) as h:
        rec = await h.command("restart", {"target": "web"})
        assert rec.edits and rec.edits[-1]["allowed_mentions"] == {"parse": []}
