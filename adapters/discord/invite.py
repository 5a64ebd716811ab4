"""The OAuth2 URL that adds procbot to a Discord server with the least it needs.

Scopes: ``bot`` (post alerts, answer in channels) and
``applications.commands`` (the ``/proc`` slash commands). Permissions, and
why each is needed:

* View Channels - see the channels alerts are routed to;
* Send Messages / Send Messages in Threads - alerts, digests, recoveries;
* Embed Links - replies and alerts are embeds;
* Read Message History - a recovery is posted as a reply to its alert.

Slash-command replies need none of these (they go through the interaction
webhook), so a server that only uses commands could grant even less.
"""

from __future__ import annotations

import discord

from core.errors import InvalidInput

SCOPES = ("bot", "applications.commands")


def required_permissions() -> discord.Permissions:
    return discord.Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        read_message_history=True,
    )


def invite_url(application_id: str) -> str:
    """``https://discord.com/oauth2/authorize?client_id=...&scope=bot+applications.commands&permissions=...``."""
    app_id = str(application_id).strip()
    if not app_id.isdigit() or not 15 <= len(app_id) <= 21:
        raise InvalidInput(
            f"{app_id[:40]!r} is not a Discord application ID (a 17-20 digit number from the "
            "Developer Portal, General Information page)."
        )
    return discord.utils.oauth_url(int(app_id), permissions=required_permissions(), scopes=SCOPES)
