"""The whole log uploaded as a file beside a chat message is masked like the message (issue 8 cases 3 and 7).

The secret is on the first of 500 lines, so it is only in the uploaded file, never in the lines shown.
Real slack-bolt and discord.py against the fakes.
"""

from __future__ import annotations

import sys
from typing import Any

from core.process.logs import log_path
from tests.fakes.discord_harness import discord_procbot
from tests.fakes.slack_harness import slack_procbot
from tests.helpers import wait_for

PY = sys.executable
SECRET = "Zq9xK2mV7pLw4RtY8nB3"
PERMS = {"default_role": "viewer"}


def leaky_then_chatty() -> dict[str, Any]:
    code = (f"import time\nprint('calling api with Authorization: Bearer {SECRET}', flush=True)\n"
            "for i in range(1, 500): print(f'line {i:04d} ' + 'x' * 80, flush=True)\ntime.sleep(3600)")
    return {"name": "web", "command": [PY, "-c", code], "min_uptime": 30}


async def wait_logged(app: Any) -> None:
    path = log_path(app.config.log_dir, "web")
    await wait_for(lambda: path.exists() and "line 0499" in path.read_text())


async def test_the_log_uploaded_with_proc_logs_on_slack_has_its_secret_masked(make_app):
    async with slack_procbot(make_app, programs=[leaky_then_chatty()], permissions=PERMS) as h:
        await wait_logged(h.app)
        body = await h.command("logs web 500", user="U0VIEW")

        [upload] = h.fake.files
        content = upload.content.decode()
        assert "line 0499" in content and "Authorization: Bearer ****" in content
        assert SECRET not in content and SECRET not in str(body)


async def test_the_log_attached_with_proc_logs_on_discord_has_its_secret_masked(make_app):
    async with discord_procbot(make_app, programs=[leaky_then_chatty()]) as h:
        await wait_logged(h.app)
        rec = await h.command("logs", {"program": "web", "lines": 500}, user=h.viewer)

        [upload] = h.fake.files
        content = upload["content"].decode()
        assert "line 0499" in content and "Authorization: Bearer ****" in content
        assert SECRET not in content and SECRET not in rec.text()
