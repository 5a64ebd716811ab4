"""The JSON a webhook receives, and its signature. Pure functions: tested without a network.

Body (``version`` 1; keys are only ever added)::

    {"version": 1, "source": "procbot", "host": "web-01", "webhook": "pager",
     "kind": "alert", "title": "web crashed on web-01", "text": "exit code 3, restart in 1s.",
     "tone": "error", "fields": {"Program": "web", "Exit": "exit code 3", ...},
     "logs": "last lines ...", "table": null,
     "data": {"kind": "alert", "incident": 7, "program": "web", "state": "open", "crashes": 1,
              "cause": "crashed", "exit": "exit code 3", "oom": false, "next": "restart in 1s",
              "group_id": null}}

``data`` is the incident (or digest) as core describes it; ``kind`` repeats
``data.kind`` (``alert``, ``recovery``, ``reminder``, ``group``, ``digest``, ...)
so a receiver can route on one key.

Signature (when a secret is configured), GitHub-style with a timestamp against replay:
``X-Procbot-Timestamp: <unix seconds>`` and
``X-Procbot-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``.
Every request also carries ``X-Procbot-Delivery`` (a fresh id per attempt, for the
receiver's logs) and ``Content-Type: application/json``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from core.reply import Reply

VERSION = 1
TIMESTAMP_HEADER = "X-Procbot-Timestamp"
SIGNATURE_HEADER = "X-Procbot-Signature"


def body(reply: Reply, *, host: str, webhook: str) -> bytes:
    """The request body for ``reply`` (compact UTF-8 JSON)."""
    table = reply.table
    doc: dict[str, Any] = {
        "version": VERSION,
        "source": "procbot",
        "host": host,
        "webhook": webhook,
        "kind": str(reply.data.get("kind") or "message"),
        "title": reply.title,
        "text": reply.text,
        "tone": reply.tone.value,
        "fields": {f.name: f.value for f in reply.fields},
        "logs": reply.code,
        "table": {"columns": table.columns, "rows": table.rows} if table else None,
        "data": reply.data,
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def signature(secret: str, timestamp: str, payload: bytes) -> str:
    """``sha256=<hex>`` over ``"<timestamp>." + payload``: what a receiver recomputes and compares."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, payload: bytes, header: str) -> bool:
    """A receiver's check (constant-time), shipped so the README's example and the tests use one rule."""
    return hmac.compare_digest(signature(secret, timestamp, payload), header)
