"""A fake Discord for tests and benchmarks: REST API and gateway on 127.0.0.1.

The real discord.py client connects to it (``Route.BASE`` = :attr:`FakeDiscord.api_base`,
``DEFAULT_GATEWAY`` = :attr:`FakeDiscord.gateway_url`). It speaks just enough
of the protocol for procbot, but every payload it sends carries all the
fields discord.py reads, because a missing key raises inside the client's
gateway task instead of failing a test clearly.

What a test can do with it:

* inject slash commands, autocomplete requests and button clicks as
  ``INTERACTION_CREATE`` (:meth:`FakeDiscord.command`, :meth:`autocomplete`,
  :meth:`click`) and read how each was answered (:class:`InteractionRecord`);
* drop the gateway socket, optionally holding reconnects, to exercise RESUME
  (events dispatched meanwhile are replayed on resume, as Discord does);
* make the next N REST calls fail (500, 429 with ``retry_after``, 403, 404);
* read channel messages posted/edited via REST (:attr:`channel_messages`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

JSON_TYPE = "application/json"  # exactly: discord.py compares the header verbatim
EPHEMERAL = 1 << 6
LOADING = 1 << 7
OPT_TYPES = {str: 3, int: 4, bool: 5, float: 10}

# interaction types
APPLICATION_COMMAND = 2
COMPONENT = 3
AUTOCOMPLETE = 4
# callback types
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8

_snowflakes = itertools.count(1_300_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_snowflakes))


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(obj).encode(), status=status, headers={"Content-Type": JSON_TYPE, **(headers or {})}
    )


@dataclass
class FakeUser:
    id: str
    name: str = "user"
    roles: list[str] = field(default_factory=list)

    def user_payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name,
            "avatar": None,
            "public_flags": 0,
            "bot": False,
        }

    def member_payload(self) -> dict[str, Any]:
        return {
            "user": self.user_payload(),
            "roles": list(self.roles),
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "nick": None,
            "avatar": None,
            "banner": None,
            "flags": 0,
            "permissions": "2248473465835073",
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
        }


@dataclass
class Failure:
    status: int
    remaining: int
    path: re.Pattern[str]
    retry_after: float = 0.0


@dataclass
class InteractionRecord:
    """How procbot answered one injected interaction."""

    id: str
    token: str
    kind: int
    payload: dict[str, Any]
    created: float = field(default_factory=time.perf_counter)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    deleted_original: bool = False
    #: the response message (after a type 4/5 callback), updated by PATCH @original
    original: dict[str, Any] | None = None
    #: the message carrying the clicked button (component interactions)
    source_message: dict[str, Any] | None = None
    #: the last message procbot showed for this interaction (what the user sees now)
    last_message: dict[str, Any] | None = None
    first_ack_at: float | None = None
    answered_at: float | None = None

    @property
    def callback_type(self) -> int | None:
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def acked(self) -> bool:
        return bool(self.callbacks)

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def ephemeral(self) -> bool:
        return bool(self.last_message and self.last_message.get("flags", 0) & EPHEMERAL)

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list((self.last_message or {}).get("embeds") or [])

    @property
    def choices(self) -> list[dict[str, Any]]:
        for cb in self.callbacks:
            if cb["type"] == AUTOCOMPLETE_RESULT:
                return list(cb["data"]["choices"])
        return []

    def text(self) -> str:
        """All visible text of the last message, for assertions."""
        parts: list[str] = [(self.last_message or {}).get("content") or ""]
        for e in self.embeds:
            parts += [e.get("title") or "", e.get("description") or ""]
            for f in e.get("fields") or []:
                parts += [f.get("name", ""), f.get("value", "")]
        return "\n".join(p for p in parts if p)

    def buttons(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for row in (self.last_message or {}).get("components") or []:
            out += [c for c in row.get("components", []) if c.get("type") == 2]
        return out


class _Conn:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()
        self.identified = False

    async def send(self, msg: dict[str, Any]) -> None:
        async with self.lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(msg))


class FakeDiscord:
    """One application, one bot user, one guild and channel by default."""

    def __init__(self, *, token: str = "fake-discord-token", port: int = 0) -> None:
        self.token = token
        self.application_id = snowflake()
        self.bot = {
            "id": snowflake(),
            "username": "procbot",
            "discriminator": "0",
            "global_name": "procbot",
            "avatar": None,
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
            "public_flags": 0,
        }
        self.guild_id = snowflake()
        self.channel_id = snowflake()
        self.port = port
        self._runner: web.AppRunner | None = None
        # REST records
        self.requests: list[tuple[str, str]] = []
        self.synced_commands: dict[str | None, list[dict[str, Any]]] = {}
        self.sync_calls: list[str | None] = []
        self.interactions: dict[str, InteractionRecord] = {}
        self.channel_messages: dict[str, list[dict[str, Any]]] = {}
        self.message_edits: list[dict[str, Any]] = []
        self.forbidden_channels: set[str] = set()
        #: every attachment received (multipart ``files[n]``): id, filename, size and the bytes
        self.files: list[dict[str, Any]] = []
        #: called with the record the moment an interaction is acknowledged (to observe the world at that instant)
        self.on_callback: Callable[[InteractionRecord], None] | None = None
        self._failures: list[Failure] = []
        #: text -> HTTP status: a message whose body holds the text is refused for ever (see poison)
        self.poisoned: dict[str, int] = {}
        # gateway state
        self._conn: _Conn | None = None
        #: every identified (or resumed) connection still open: real Discord allows one per token and shard
        self._sessions: set[_Conn] = set()
        #: the most gateway sessions ever open at once
        self.most_sessions = 0
        self._session_id: str | None = None
        self._events: list[tuple[int, str, dict[str, Any]]] = []
        self._seq = 0
        self._gateway_open = asyncio.Event()
        self._gateway_open.set()
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self._cond = asyncio.Condition()
        self._ws_tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle
    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        r = app.router
        r.add_get("/gateway", self._gateway)
        api = "/api/v10"
        r.add_get(api + "/gateway", self._get_gateway)
        r.add_get(api + "/gateway/bot", self._get_gateway)
        r.add_get(api + "/users/@me", self._users_me)
        r.add_get(api + "/oauth2/applications/@me", self._application)
        r.add_get(api + "/applications/@me", self._application)
        r.add_put(api + "/applications/{app}/commands", self._sync_global)
        r.add_get(api + "/applications/{app}/commands", self._get_global)
        r.add_put(api + "/applications/{app}/guilds/{guild}/commands", self._sync_guild)
        r.add_get(api + "/applications/{app}/guilds/{guild}/commands", self._get_guild)
        r.add_post(api + "/interactions/{iid}/{token}/callback", self._callback)
        r.add_patch(api + "/webhooks/{app}/{token}/messages/@original", self._edit_original)
        r.add_get(api + "/webhooks/{app}/{token}/messages/@original", self._get_original)
        r.add_delete(api + "/webhooks/{app}/{token}/messages/@original", self._delete_original)
        r.add_post(api + "/webhooks/{app}/{token}", self._followup)
        r.add_patch(api + "/webhooks/{app}/{token}/messages/{mid}", self._edit_followup)
        r.add_post(api + "/channels/{cid}/messages", self._post_message)
        r.add_patch(api + "/channels/{cid}/messages/{mid}", self._edit_message)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._gateway_open.set()
        if self._conn is not None:
            await self._conn.ws.close(code=1001)
        for t in list(self._ws_tasks):
            t.cancel()
        await asyncio.gather(*self._ws_tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ waiting
    async def _changed(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds (re-checked whenever the fake records something)."""
        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(predicate), timeout)

    async def wait_answered(self, rec: InteractionRecord, timeout: float = 5.0) -> InteractionRecord:
        await self.wait_until(lambda: rec.answered, timeout)
        return rec

    @property
    def gateway_sessions(self) -> int:
        """How many gateway connections are identified and open at once (two fronts on one token: 1)."""
        return sum(1 for c in self._sessions if c.identified and not c.ws.closed)

    @property
    def gateway_connected(self) -> bool:
        return self._conn is not None and self._conn.identified

    # ------------------------------------------------------------------ failures
    def fail_next(self, status: int, count: int = 1, *, path: str = ".*", retry_after: float = 0.0) -> None:
        """Answer the next ``count`` REST calls whose path matches ``path`` with ``status``."""
        self._failures.append(Failure(status, count, re.compile(path), retry_after))

    def stop_failing(self) -> None:
        """Discord is back: every failure set with fail_next is dropped (poisoned messages stay refused)."""
        self._failures.clear()

    def poison(self, needle: str, *, status: int = 400) -> None:
        """Refuse every message posted with ``needle`` in its body for ever: 400 is Discord's
        "Invalid Form Body" (e.g. an embed over its limits), 5xx a server error."""
        self.poisoned[needle] = status

    def _failure_for(self, path: str) -> Failure | None:
        for f in self._failures:
            if f.remaining > 0 and f.path.search(path):
                f.remaining -= 1
                return f
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)
        self.requests.append((request.method, request.path))
        failure = self._failure_for(request.path)
        if failure is not None:
            return self._failure_response(failure)
        unauthenticated = ("/interactions/", "/webhooks/")
        needs_token = not any(p in request.path for p in unauthenticated)
        if needs_token and request.headers.get("Authorization") != f"Bot {self.token}":
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        return await handler(request)

    @staticmethod
    def _failure_response(f: Failure) -> web.Response:
        if f.status == 429:
            return json_response(
                {"message": "You are being rate limited.", "retry_after": f.retry_after, "global": False},
                429,
                {"Via": "1.1 google", "Retry-After": str(max(1, round(f.retry_after))), "X-RateLimit-Scope": "user"},
            )
        if f.status == 403:
            return json_response({"message": "Missing Access", "code": 50001}, 403)
        if f.status == 404:
            return json_response({"message": "Unknown Channel", "code": 10003}, 404)
        return json_response({"message": f"{f.status}: Server Error", "code": 0}, f.status)

    # ------------------------------------------------------------------ REST: identity and commands
    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})

    async def _users_me(self, request: web.Request) -> web.Response:
        return json_response(self.bot)

    async def _application(self, request: web.Request) -> web.Response:
        return json_response({
            "id": self.application_id,
            "name": "procbot",
            "icon": None,
            "description": "",
            "summary": "",
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": {"id": snowflake(), "username": "owner", "discriminator": "0", "avatar": None,
                      "global_name": "owner", "public_flags": 0},
            "team": None,
            "flags": 0,
            "rpc_origins": [],
            "redirect_uris": [],
            "tags": [],
            "interactions_endpoint_url": None,
            "bot": self.bot,
        })

    def _store_commands(self, guild: str | None, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for cmd in body:
            out.append({
                "id": snowflake(),
                "application_id": self.application_id,
                "version": snowflake(),
                "type": 1,
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                **cmd,
                **({"guild_id": guild} if guild else {}),
            })
        self.synced_commands[guild] = out
        self.sync_calls.append(guild)
        return out

    async def _sync_global(self, request: web.Request) -> web.Response:
        out = self._store_commands(None, await request.json())
        await self._changed()
        return json_response(out)

    async def _get_global(self, request: web.Request) -> web.Response:
        return json_response(self.synced_commands.get(None, []))

    async def _sync_guild(self, request: web.Request) -> web.Response:
        out = self._store_commands(request.match_info["guild"], await request.json())
        await self._changed()
        return json_response(out)

    async def _get_guild(self, request: web.Request) -> web.Response:
        return json_response(self.synced_commands.get(request.match_info["guild"], []))

    # ------------------------------------------------------------------ REST: messages
    async def _body(self, request: web.Request) -> dict[str, Any]:
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            payload: dict[str, Any] = {}
            files: list[dict[str, Any]] = []
            async for part in reader:
                name = getattr(part, "name", None) or ""
                if name == "payload_json":
                    payload = json.loads(await part.text())  # type: ignore[union-attr]
                elif name.startswith("files["):  # an attachment: recorded with its bytes
                    content = bytes(await part.read())  # type: ignore[union-attr]
                    meta = {"id": snowflake(), "filename": getattr(part, "filename", None) or name,
                            "size": len(content)}
                    self.files.append({**meta, "content": content})
                    files.append(meta)
            if files:
                target = payload["data"] if isinstance(payload.get("data"), dict) else payload
                target["_files"] = files
            return payload
        if not request.can_read_body:
            return {}
        return await request.json()

    def message(
        self,
        channel_id: str,
        body: dict[str, Any],
        *,
        message_id: str | None = None,
        flags: int = 0,
        interaction_reply: bool = False,
    ) -> dict[str, Any]:
        """A complete message object as Discord returns it."""
        msg: dict[str, Any] = {
            "id": message_id or snowflake(),
            "channel_id": channel_id,
            "type": 20 if interaction_reply else (19 if body.get("message_reference") else 0),
            "content": body.get("content") or "",
            "author": self.bot,
            "attachments": list(body.get("_files") or []),
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "flags": flags | int(body.get("flags") or 0),
            "allowed_mentions": body.get("allowed_mentions"),
        }
        if interaction_reply:
            msg["webhook_id"] = self.application_id
            msg["application_id"] = self.application_id
        ref = body.get("message_reference")
        if ref:
            msg["message_reference"] = {"type": 0, "channel_id": channel_id, **ref}
        return msg

    async def _post_message(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if cid in self.forbidden_channels:
            return json_response({"message": "Missing Access", "code": 50001}, 403)
        body = await self._body(request)
        for needle, status in self.poisoned.items():
            if needle in json.dumps(body):
                if status == 400:
                    return json_response({"message": "Invalid Form Body", "code": 50035,
                                          "errors": {"embeds": {"0": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                                                                   "message": "Too long"}]}}}}, 400)
                return json_response({"message": f"{status}: Server Error", "code": 0}, status)
        msg = self.message(cid, body)
        self.channel_messages.setdefault(cid, []).append(msg)
        await self._changed()
        return json_response(msg)

    async def _edit_message(self, request: web.Request) -> web.Response:
        cid, mid = request.match_info["cid"], request.match_info["mid"]
        for msg in self.channel_messages.get(cid, []):
            if msg["id"] == mid:
                body = await self._body(request)
                self._apply_edit(msg, body)
                self.message_edits.append({"channel_id": cid, "id": mid, **body})
                await self._changed()
                return json_response(msg)
        return json_response({"message": "Unknown Message", "code": 10008}, 404)

    @staticmethod
    def _apply_edit(msg: dict[str, Any], body: dict[str, Any]) -> None:
        if "_files" in body:
            msg["attachments"] = list(body["_files"])
        for key in ("content", "embeds", "components"):
            if key in body:
                msg[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        if "flags" in body and body["flags"] is not None:
            msg["flags"] = (msg.get("flags", 0) & EPHEMERAL) | int(body["flags"])
        msg["flags"] = msg.get("flags", 0) & ~LOADING
        msg["edited_timestamp"] = _now_iso()

    # ------------------------------------------------------------------ REST: interactions
    def _record(self, token: str) -> InteractionRecord | None:
        for rec in self.interactions.values():
            if rec.token == token:
                return rec
        return None

    def _answered(self, rec: InteractionRecord, msg: dict[str, Any] | None) -> None:
        if msg is not None:
            rec.last_message = msg
        if rec.answered_at is None:
            rec.answered_at = time.perf_counter()

    async def _callback(self, request: web.Request) -> web.Response:
        rec = self.interactions.get(request.match_info["iid"])
        if rec is None or rec.token != request.match_info["token"]:
            return json_response({"message": "Unknown interaction", "code": 10062}, 404)
        if rec.callbacks:
            return json_response({"message": "Interaction has already been acknowledged.", "code": 40060}, 400)
        body = await self._body(request)
        rec.callbacks.append(body)
        rec.first_ack_at = time.perf_counter()
        if self.on_callback is not None:
            self.on_callback(rec)
        kind = body["type"]
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        channel_id = rec.payload["channel_id"]
        resource: dict[str, Any] = {"type": kind}
        response_id: str | None = None
        if kind == CHANNEL_MESSAGE:
            rec.original = self.message(channel_id, data, flags=flags, interaction_reply=True)
            response_id = rec.original["id"]
            resource["message"] = rec.original
            self._answered(rec, rec.original)
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            rec.original = self.message(channel_id, {}, flags=flags | LOADING, interaction_reply=True)
            response_id = rec.original["id"]
            resource["message"] = rec.original
        elif kind == UPDATE_MESSAGE and rec.source_message is not None:
            self._apply_edit(rec.source_message, data)
            response_id = rec.source_message["id"]
            resource["message"] = rec.source_message
            self._answered(rec, dict(rec.source_message))
        elif kind == AUTOCOMPLETE_RESULT:
            self._answered(rec, None)
        await self._changed()
        return json_response({
            "interaction": {
                "id": rec.id,
                "type": rec.kind,
                "response_message_id": response_id,
                "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            },
            "resource": resource,
        })

    async def _edit_original(self, request: web.Request) -> web.Response:
        rec = self._record(request.match_info["token"])
        if rec is None or not rec.callbacks:
            return json_response({"message": "Unknown Webhook", "code": 10015}, 404)
        body = await self._body(request)
        rec.edits.append(body)
        target = rec.source_message if rec.callback_type == DEFERRED_UPDATE else rec.original
        if target is None:
            return json_response({"message": "Unknown Message", "code": 10008}, 404)
        self._apply_edit(target, body)
        self._answered(rec, dict(target))
        await self._changed()
        return json_response(target)

    async def _get_original(self, request: web.Request) -> web.Response:
        rec = self._record(request.match_info["token"])
        if rec is None or rec.original is None:
            return json_response({"message": "Unknown Message", "code": 10008}, 404)
        return json_response(rec.original)

    async def _delete_original(self, request: web.Request) -> web.Response:
        rec = self._record(request.match_info["token"])
        if rec is None or rec.original is None:
            return json_response({"message": "Unknown Message", "code": 10008}, 404)
        rec.deleted_original = True
        await self._changed()
        return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.Response:
        rec = self._record(request.match_info["token"])
        if rec is None or not rec.callbacks:
            return json_response({"message": "Unknown Webhook", "code": 10015}, 404)
        body = await self._body(request)
        msg = self.message(rec.payload["channel_id"], body, interaction_reply=True)
        rec.followups.append(msg)
        self._answered(rec, msg)
        await self._changed()
        return json_response(msg)

    async def _edit_followup(self, request: web.Request) -> web.Response:
        rec = self._record(request.match_info["token"])
        mid = request.match_info["mid"]
        for msg in rec.followups if rec else []:
            if msg["id"] == mid:
                self._apply_edit(msg, await self._body(request))
                await self._changed()
                return json_response(msg)
        return json_response({"message": "Unknown Message", "code": 10008}, 404)

    # ------------------------------------------------------------------ gateway
    def hold_gateway(self) -> None:
        """New gateway connections wait (no HELLO) until :meth:`release_gateway`."""
        self._gateway_open.clear()

    def release_gateway(self) -> None:
        self._gateway_open.set()

    async def drop_gateway(self, code: int = 4000) -> None:
        """Close the client's socket; discord.py then reconnects and RESUMEs."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.identified = False
            await conn.ws.close(code=code)
        await self._changed()

    def invalidate_session(self) -> None:
        """Forget the session: the next RESUME gets INVALID_SESSION and the client must IDENTIFY."""
        self._session_id = None
        self._events.clear()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._ws_tasks.add(task)
        try:
            await self._gateway_open.wait()
            conn = _Conn(ws)
            await conn.send({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    break
                await self._gateway_message(conn, json.loads(msg.data))
            if self._conn is conn:
                self._conn = None
                await self._changed()
        finally:
            self._sessions = {c for c in self._sessions if c.ws is not ws}
            await self._changed()
            if task is not None:
                self._ws_tasks.discard(task)
        return ws

    async def _gateway_message(self, conn: _Conn, msg: dict[str, Any]) -> None:
        op, d = msg.get("op"), msg.get("d")
        if op == 1:
            self.heartbeats += 1
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            self.identifies += 1
            self._session_id = secrets.token_hex(16)
            self._events.clear()
            self._seq += 1
            await conn.send({"op": 0, "t": "READY", "s": self._seq, "d": self._ready_payload()})
            conn.identified = True
            self._conn = conn
            self._sessions.add(conn)
            self.most_sessions = max(self.most_sessions, self.gateway_sessions)
            await self._changed()
        elif op == 6:
            assert isinstance(d, dict)
            if d.get("session_id") != self._session_id or self._session_id is None:
                await conn.send({"op": 9, "d": False, "s": None, "t": None})
                return
            self.resumes += 1
            last = int(d.get("seq") or 0)
            for seq, t, data in list(self._events):
                if seq > last:
                    await conn.send({"op": 0, "t": t, "s": seq, "d": data})
            self._seq += 1
            await conn.send({"op": 0, "t": "RESUMED", "s": self._seq, "d": {}})
            conn.identified = True
            self._conn = conn
            self._sessions.add(conn)
            self.most_sessions = max(self.most_sessions, self.gateway_sessions)
            await self._changed()

    def _ready_payload(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.bot,
            "guilds": [{"id": self.guild_id, "unavailable": True}],
            "session_id": self._session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "shard": [0, 1],
            "application": {"id": self.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "guild_join_requests": [],
            "auth": {},
        }

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a dispatch event now, or keep it for replay on RESUME while disconnected."""
        self._seq += 1
        self._events.append((self._seq, event, data))
        if self._conn is not None and self._conn.identified:
            await self._conn.send({"op": 0, "t": event, "s": self._seq, "d": data})

    # ------------------------------------------------------------------ interactions
    def user(self, name: str = "alice", roles: list[str] | None = None) -> FakeUser:
        return FakeUser(id=snowflake(), name=name, roles=list(roles or []))

    def _channel_payload(self, channel_id: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "type": 0,
            "guild_id": self.guild_id,
            "name": "ops",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
            "permissions": "2248473465835073",
        }

    def _interaction(self, kind: int, data: dict[str, Any], user: FakeUser, channel_id: str | None,
                     *, message: dict[str, Any] | None = None) -> InteractionRecord:
        iid, token = snowflake(), "tok-" + secrets.token_urlsafe(24)
        cid = channel_id or self.channel_id
        payload: dict[str, Any] = {
            "id": iid,
            "application_id": self.application_id,
            "type": kind,
            "token": token,
            "version": 1,
            "guild_id": self.guild_id,
            "guild": {"id": self.guild_id, "locale": "en-US", "features": []},
            "channel_id": cid,
            "channel": self._channel_payload(cid),
            "member": user.member_payload(),
            "locale": "en-US",
            "guild_locale": "en-US",
            "app_permissions": "2248473465835073",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": self.guild_id},
            "context": 0,
            "attachment_size_limit": 26214400,
            "data": data,
        }
        if message is not None:
            payload["message"] = message
        rec = InteractionRecord(id=iid, token=token, kind=kind, payload=payload, source_message=message)
        self.interactions[iid] = rec
        return rec

    def _command_data(self, sub: str, options: dict[str, Any], focused: str | None = None) -> dict[str, Any]:
        opts = []
        for name, value in options.items():
            opt: dict[str, Any] = {"type": OPT_TYPES[type(value)], "name": name, "value": value}
            if name == focused:
                opt["focused"] = True
            opts.append(opt)
        cmds = self.synced_commands.get(self.guild_id) or self.synced_commands.get(None) or []
        cmd_id = next((c["id"] for c in cmds if c["name"] == "proc"), snowflake())
        return {
            "id": cmd_id,
            "name": "proc",
            "type": 1,
            "guild_id": self.guild_id,
            "options": [{"type": 1, "name": sub, "options": opts}],
        }

    async def command(self, sub: str, options: dict[str, Any] | None = None, *, user: FakeUser,
                      channel_id: str | None = None, send: bool = True) -> InteractionRecord:
        """Inject ``/proc <sub> option:value ...`` typed by ``user`` (``send=False``: only build it)."""
        rec = self._interaction(APPLICATION_COMMAND, self._command_data(sub, options or {}), user, channel_id)
        if send:
            await self.dispatch("INTERACTION_CREATE", rec.payload)
        return rec

    async def autocomplete(self, sub: str, options: dict[str, Any], focused: str, *, user: FakeUser,
                           channel_id: str | None = None) -> InteractionRecord:
        data = self._command_data(sub, options, focused)
        rec = self._interaction(AUTOCOMPLETE, data, user, channel_id)
        await self.dispatch("INTERACTION_CREATE", rec.payload)
        return rec

    async def click(self, message: dict[str, Any], custom_id: str, *, user: FakeUser) -> InteractionRecord:
        """Inject a button press on ``message`` (a message dict the fake produced)."""
        data = {"custom_id": custom_id, "component_type": 2}
        rec = self._interaction(COMPONENT, data, user, message["channel_id"], message=message)
        await self.dispatch("INTERACTION_CREATE", rec.payload)
        return rec
