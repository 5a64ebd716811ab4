"""The Slack app manifest a user pastes must match what the adapter expects."""

from __future__ import annotations

from core.spec import SlackSettings
from tests.helpers import REPO

MANIFEST = REPO / "config" / "slack-manifest.yml"


def manifest_lines() -> list[str]:
    lines = (line.split("#", 1)[0].rstrip() for line in MANIFEST.read_text().splitlines())
    return [line for line in lines if line]


def test_the_slash_command_is_the_default_one() -> None:
    assert f"    - command: {SlackSettings().command}" in manifest_lines()


def test_the_bot_scopes_are_exactly_those_the_adapter_uses() -> None:
    lines = manifest_lines()
    start = lines.index("    bot:") + 1
    scopes = []
    for line in lines[start:]:
        if not line.startswith("      - "):
            break
        scopes.append(line.removeprefix("      - "))
    assert scopes == ["commands", "chat:write", "chat:write.public", "usergroups:read", "files:write", "im:write"]


def test_socket_mode_and_interactivity_are_enabled() -> None:
    lines = manifest_lines()
    assert "  socket_mode_enabled: true" in lines
    assert lines[lines.index("  interactivity:") + 1] == "    is_enabled: true"
