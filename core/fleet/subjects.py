"""Every NATS name procbot uses, in one place (the README's "Subjects" table is this file).

=============================  ===========================================================
``procbot.cmd.<host>``         core request/reply: a command for ``<host>``'s programs, or its digest section
``procbot.evt.<host>.outbox``  JetStream: one row of ``<host>``'s alert outbox (post/update/reply)
stream ``PROCBOT_EVT``         ``procbot.evt.>``, file storage, bounded by age
consumer ``procbot-front``     durable pull consumer shared by the fronts
KV bucket ``procbot_hosts``    key ``<host>``: the host's last heartbeat; TTL = heartbeat_ttl
KV bucket ``procbot_leases``   key ``discord-gateway``: the front running Discord's gateway; TTL = heartbeat_ttl
=============================  ===========================================================
"""

from __future__ import annotations

import re

CMD_PREFIX = "procbot.cmd"
EVT_PREFIX = "procbot.evt"
EVT_STREAM = "PROCBOT_EVT"
FRONT_CONSUMER = "procbot-front"
HOSTS_BUCKET = "procbot_hosts"
LEASES_BUCKET = "procbot_leases"
#: the lease of the one front whose Discord adapter runs (one gateway session per token and shard)
DISCORD_LEASE = "discord-gateway"

#: one subject token: NATS separates tokens with dots and reserves * and > as wildcards
HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def host_problem(host: str) -> str | None:
    """Why ``host`` cannot be a fleet host name (None if it can)."""
    if HOST_RE.match(host):
        return None
    return (f"host name {host!r} cannot be a NATS subject token: use letters, digits, '-' and '_' "
            "(no dots, spaces, '*' or '>'), at most 64 characters")


def cmd_subject(host: str) -> str:
    return f"{CMD_PREFIX}.{host}"


def outbox_subject(host: str) -> str:
    return f"{EVT_PREFIX}.{host}.outbox"


def host_of_subject(subject: str) -> str:
    """``procbot.evt.web-02.outbox`` -> ``web-02``."""
    return subject.split(".")[2]
