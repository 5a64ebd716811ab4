"""What travels on the fleet subjects, as JSON: commands, replies, outbox rows, heartbeats.

One module so both ends of every subject agree; each message carries ``v``
so a later release can read an older host's messages.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from core.actor import Actor, CommandContext, Decision
from core.errors import InvalidInput
from core.reply import Reply

VERSION = 1


def _load(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(f"A fleet {what} that is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidInput(f"A fleet {what} that is not a JSON object.")
    return obj


# -- commands (procbot.cmd.<host>) ------------------------------------------
@dataclass(frozen=True)
class CommandRequest:
    text: str
    ctx: CommandContext
    #: "handle" for typed commands, "press" for a button pressed on a reply from that host,
    #: "digest" for the host's section of a fleet digest (``text`` is a :class:`DigestAsk`)
    kind: str = "handle"


KINDS = ("handle", "press", "digest")


def encode_request(req: CommandRequest) -> bytes:
    a = req.ctx.actor
    d = a.decided
    return json.dumps({
        "v": VERSION, "kind": req.kind, "text": req.text, "channel": req.ctx.channel,
        # raw (unmasked) log lines are for the host's own operator: never across the fleet
        "actor": {"platform": a.platform, "user_id": a.user_id, "display_name": a.display_name,
                  "groups": sorted(a.groups), "local": a.local},
        # the front's decision: what this actor holds on the host the request is for
        "decision": None if d is None else {"role": d.role, "scoped": [[r, list(p)] for r, p in d.scoped]},
    }).encode()


def _decision(obj: object) -> Decision | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise InvalidInput("A fleet command whose decision is not an object.")
    scoped = tuple((str(r), tuple(map(str, p))) for r, p in obj.get("scoped", []))
    return Decision(str(obj["role"]), scoped)


def decode_request(data: bytes) -> CommandRequest:
    obj = _load(data, "command")
    try:
        a = obj["actor"]
        decided = _decision(obj.get("decision"))
        # `local` (the front's own CLI or console) only spares confirmations here: the role is the
        # decision's; a request without a decision is never local (this host's grants decide)
        actor = Actor(platform=str(a["platform"]), user_id=str(a["user_id"]),
                      display_name=str(a.get("display_name", "")), groups=frozenset(map(str, a.get("groups", []))),
                      local=decided is not None and bool(a.get("local", False)), decided=decided)
        kind = str(obj.get("kind", "handle"))
        if kind not in KINDS:
            raise InvalidInput(f"Unknown fleet command kind {kind!r}.")
        channel = obj.get("channel")
        ctx = CommandContext(actor, None if channel is None else str(channel))
        return CommandRequest(text=str(obj["text"]), ctx=ctx, kind=kind)
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidInput(f"A fleet command without {e}.") from None


def encode_reply(reply: Reply) -> bytes:
    return json.dumps({"v": VERSION, **reply.to_dict()}, default=str).encode()


def decode_reply(data: bytes) -> Reply:
    obj = _load(data, "reply")
    obj.pop("v", None)
    return Reply.from_dict(obj)


@dataclass(frozen=True)
class DigestAsk:
    """What a front asks each host for a fleet digest: the digest's name, period, programs and zone."""

    name: str
    since: float
    until: float
    programs: list[str] = field(default_factory=lambda: ["*"])
    timezone: str | None = None


def encode_digest_ask(ask: DigestAsk) -> str:
    return json.dumps(asdict(ask))


def decode_digest_ask(text: str) -> DigestAsk:
    obj = _load(text.encode(), "digest request")
    try:
        tz = obj.get("timezone")
        return DigestAsk(name=str(obj["name"]), since=float(obj["since"]), until=float(obj["until"]),
                         programs=[str(p) for p in obj.get("programs", ["*"])],
                         timezone=None if tz is None else str(tz))
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidInput(f"A malformed fleet digest request: {e}") from None


# -- outbox rows (procbot.evt.<host>.outbox) --------------------------------
@dataclass(frozen=True)
class OutboxEvent:
    """One row of a host's outbox, for the front to queue as its own."""

    #: the Nats-Msg-Id, stable across restarts of the host: also the message ref the host records
    msg_id: str
    host: str
    destination: str
    action: str              # post | update | reply
    reply: Reply
    #: msg_id of the row this updates or replies to
    parent: str | None = None
    created_at: float = 0.0


def encode_event(ev: OutboxEvent) -> bytes:
    return json.dumps({"v": VERSION, "msg_id": ev.msg_id, "host": ev.host, "destination": ev.destination,
                       "action": ev.action, "parent": ev.parent, "created_at": ev.created_at,
                       "reply": ev.reply.to_dict()}, default=str).encode()


def decode_event(data: bytes) -> OutboxEvent:
    obj = _load(data, "event")
    try:
        action = str(obj["action"])
        if action not in ("post", "update", "reply"):
            raise InvalidInput(f"Unknown outbox action {action!r}.")
        parent = obj.get("parent")
        return OutboxEvent(msg_id=str(obj["msg_id"]), host=str(obj["host"]), destination=str(obj["destination"]),
                           action=action, reply=Reply.from_dict(obj["reply"]),
                           parent=None if parent is None else str(parent), created_at=float(obj.get("created_at", 0)))
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidInput(f"A malformed fleet event: {e}") from None


# -- heartbeats (KV procbot_hosts) ------------------------------------------
@dataclass(frozen=True)
class Heartbeat:
    host: str
    at: float
    started_at: float
    programs: int
    failing: int
    version: str = ""
    front: bool = False
    failing_names: list[str] = field(default_factory=list)
    #: every program and group name on the host: the front routes a bare ``restart web`` by them
    program_names: list[str] = field(default_factory=list)
    group_names: list[str] = field(default_factory=list)


def encode_heartbeat(hb: Heartbeat) -> bytes:
    return json.dumps({"v": VERSION, **asdict(hb)}).encode()


def decode_heartbeat(data: bytes) -> Heartbeat:
    obj = _load(data, "heartbeat")
    obj.pop("v", None)
    known = {f.name for f in fields(Heartbeat)}
    try:  # a newer host's extra fields are ignored, so a front can lag a release behind its hosts
        return Heartbeat(**{k: v for k, v in obj.items() if k in known})
    except TypeError as e:
        raise InvalidInput(f"A malformed heartbeat: {e}") from None
