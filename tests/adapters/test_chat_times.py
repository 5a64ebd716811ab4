"""Times in chat are shown in each reader's own zone; sizes say what they are (MiB, not MB)."""

from __future__ import annotations

import os
import signal

from core import formatting as fmt
from tests.alert_fixtures import alert_program, discord_alert_rig, slack_alert_rig
from tests.helpers import wait_for


async def recovered_incident(rig) -> float:  # type: ignore[no-untyped-def]
    """Crash ``web`` and wait until its alert says it recovered (that version names the time it began)."""
    await wait_for(lambda: rig.app.supervisor.state("web").state.value == "running")
    os.kill(rig.app.supervisor.state("web").pid or 0, signal.SIGKILL)
    await wait_for(lambda: any(i.program == "web" for i in rig.alerting.policy.open_incidents()))
    [inc] = rig.alerting.policy.open_incidents()
    await wait_for(lambda: not inc.open)
    await rig.settle()
    return inc.opened_at


async def test_an_alerts_since_field_on_discord_is_a_timestamp_discord_localises(make_app):
    async with discord_alert_rig(make_app, [alert_program("web")]) as rig:
        opened = await recovered_incident(rig)

        [msg] = [m for m in rig.fake.channel_messages[rig.fake.channel_id] if not m.get("message_reference")]
        [since] = [f["value"] for f in msg["embeds"][0]["fields"] if f["name"] == "Since"]
        assert since == f"<t:{int(opened)}:f>"


async def test_an_alerts_since_field_on_slack_is_a_date_token_with_a_zoned_fallback(make_app):
    async with slack_alert_rig(make_app, [alert_program("web")]) as rig:
        opened = await recovered_incident(rig)

        [alert] = [m for m in rig.fake.messages.values() if m.thread_ts is None]
        token = f"<!date^{int(opened)}^{{date_short_pretty}} {{time}}|{fmt.when(opened)}>"
        assert token in str(alert.blocks)


def test_a_written_out_time_names_its_zone():
    assert fmt.when(1705305600, "Europe/Paris") == "2024-01-15 09:00:00 CET"
    assert fmt.when(1705305600, "UTC") == "2024-01-15 08:00:00 UTC"


def test_memory_sizes_are_binary_and_say_mib():
    assert fmt.size(5 * 1024 * 1024) == "5.0MiB"
    assert fmt.size(1536) == "1.5KiB" and fmt.size(3 * 1024**3) == "3.0GiB"
