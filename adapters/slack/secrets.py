"""The Slack credentials an adapter is given (bot/platforms.py reads them from env or a token file).

A module of its own, importing nothing from slack_bolt, so the platform table can
name the type without loading the Slack libraries in a procbot that has no Slack.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlackSecrets:
    bot_token: str
    app_token: str | None = None
    signing_secret: str | None = None

    def __repr__(self) -> str:  # never print tokens by accident
        return "SlackSecrets(<redacted>)"

    def values(self) -> list[str]:
        """Every secret held, for the log redactor."""
        return [s for s in (self.bot_token, self.app_token, self.signing_secret) if s]
