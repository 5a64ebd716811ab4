"""A fake Slack on 127.0.0.1 for driving the real slack-bolt client in tests.

What it serves (one aiohttp server, random port):

* Web API under ``/api/``: ``auth.test``, ``chat.postMessage``,
  ``chat.update``, ``chat.postEphemeral``, ``usergroups.users.list``,
  ``apps.connections.open`` (which hands out ``ws://.../socket``),
  ``conversations.open`` and the files_upload_v2 trio
  (``files.getUploadURLExternal``, a POST to ``/upload/<file id>``,
  ``files.completeUploadExternal``; finished uploads are in :attr:`FakeSlack.files`). Every call
  is recorded; the next N calls of a method can be made to fail with a status
  (500, or 429 with ``Retry-After``) via :meth:`FakeSlack.fail`.
* Response URLs (``/response/<n>``) that record what the app posts back.
* A Socket Mode WebSocket that sends ``hello``, delivers injected
  ``slash_commands`` and ``interactive`` envelopes and records acks. An
  envelope injected while no socket is open waits for the next connection.
  :meth:`drop_sockets` closes connections to force a reconnect;
  :meth:`hold_connections` stalls ``apps.connections.open`` so a test can act
  in the middle of a reconnect; :attr:`refuse_sockets` makes the WebSocket
  upgrade fail.

Plus helpers to sign HTTP-mode requests (v0 HMAC-SHA256) for the app's own
endpoint. Times are ``loop.time()`` so tests and the benchmark can measure
ack and reply latency.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

BOT_TOKEN = "xoxb-1111-2222-fakebottoken"
APP_TOKEN = "xapp-1-A111-3333-fakeapptoken"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass
class ApiCall:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float


@dataclass
class Failure:
    status: int
    times: int
    retry_after: int | None = None
    error: str | None = None


@dataclass
class Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    sent_at: float | None = None
    acked_at: float | None = None
    ack_payload: dict[str, Any] | None = None
    deliveries: int = 0

    @property
    def response_url(self) -> str:
        return str(self.payload.get("response_url", ""))


@dataclass
class Response:
    body: dict[str, Any]
    at: float


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    edits: int = 0


@dataclass
class _Socket:
    ws: web.WebSocketResponse


class FakeSlack:
    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str = "T0FAKE",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id

        self.calls: list[ApiCall] = []
        self.usergroups: dict[str, list[str]] = {}
        self.not_in_channel: set[str] = set()
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.responses: dict[str, list[Response]] = {}
        self.envelopes: dict[str, Envelope] = {}
        #: while True, WebSocket upgrades are answered 503 (Slack unreachable)
        self.refuse_sockets = False
        self.socket_connections = 0
        #: when set, chat.postMessage/chat.update whose blocks' text adds up to more is refused
        #: with msg_blocks_too_long, as Slack does at roughly 12-13k characters
        self.blocks_text_limit: int | None = None
        #: substring -> (status, error): messages containing it are refused on every try (poison)
        self.poisoned: dict[str, tuple[int, str]] = {}
        self.files: list[UploadedFile] = []
        self._uploads: dict[str, bytes] = {}
        self._upload_names: dict[str, str] = {}

        self._failures: dict[str, Failure] = {}
        self._connections_open = asyncio.Event()
        self._connections_open.set()
        self._sockets: list[_Socket] = []
        self._pending: list[str] = []
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/upload/{fid}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._connections_open.set()
        for s in list(self._sockets):
            await s.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"  # slack_sdk needs the trailing slash

    # ------------------------------------------------------------ waiting

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy; returns its value. Raises ``TimeoutError``."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)
        return predicate()

    # ------------------------------------------------------------ Web API

    def fail(self, method: str, *, status: int = 500, times: int = 1, retry_after: int | None = None,
             error: str | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` (or ``"response"`` for response URLs) with a failure.

        ``status`` 429 sends ``Retry-After``; ``status`` 200 with ``error`` sends ``{"ok": false}``.
        """
        self._failures[method] = Failure(status=status, times=times, retry_after=retry_after, error=error)

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def _take_failure(self, key: str) -> web.Response | None:
        f = self._failures.get(key)
        if f is None or f.times <= 0:
            return None
        f.times -= 1
        if f.status == 429:
            headers = {"Retry-After": str(f.retry_after if f.retry_after is not None else 1)}
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
        if f.status == 200:
            return web.json_response({"ok": False, "error": f.error or "internal_error"})
        return web.Response(status=f.status, text=f.error or "upstream failure")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        token = args.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ")
        self.calls.append(ApiCall(method, args, token, asyncio.get_running_loop().time()))
        await self._notify()
        failure = self._take_failure(method)
        if failure is not None:
            return failure
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != wanted:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        refusal = self._refusal(method, args)
        if refusal is not None:
            return refusal
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        result = await handler(args)
        await self._notify()
        return web.json_response(result)

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    async def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake Team", "user": "procbot",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def hold_connections(self) -> None:
        """Make ``apps.connections.open`` wait (a reconnect in progress) until :meth:`release_connections`."""
        self._connections_open.clear()

    def release_connections(self) -> None:
        self._connections_open.set()

    async def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        await self._connections_open.wait()
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket={next(self._ids)}"}

    async def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        msg = Message(channel, self._next_ts(), str(args.get("text", "")), _blocks(args.get("blocks")),
                      args.get("thread_ts"))
        self.messages[(channel, msg.ts)] = msg
        return {"ok": True, "channel": channel, "ts": msg.ts, "message": {"text": msg.text, "ts": msg.ts}}

    async def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel", "")), str(args.get("ts", "")))
        msg = self.messages.get(key)
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        msg.text = str(args.get("text", ""))
        msg.blocks = _blocks(args.get("blocks"))
        msg.edits += 1
        return {"ok": True, "channel": key[0], "ts": key[1], "text": msg.text}

    async def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        self.ephemeral.append(args)
        return {"ok": True, "message_ts": self._next_ts()}

    async def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        gid = str(args.get("usergroup", ""))
        if gid not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[gid])}

    # ------------------------------------------------------------ response URLs

    def new_response_url(self) -> str:
        rid = str(next(self._ids))
        self.responses[rid] = []
        return f"{self.base_url}/response/{rid}"

    def responses_to(self, url: str) -> list[Response]:
        return self.responses.get(url.rsplit("/", 1)[-1], [])

    async def wait_response(self, url: str, *, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        """The ``count``-th body posted to ``url`` (waiting for it)."""
        await self.wait_for(lambda: len(self.responses_to(url)) >= count, timeout)
        return self.responses_to(url)[count - 1].body

    async def _response(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        failure = self._take_failure("response")
        if failure is not None:
            return failure
        if rid not in self.responses:
            return web.Response(status=404, text="no_such_response_url")
        body = await request.json()
        self.responses[rid].append(Response(body, asyncio.get_running_loop().time()))
        await self._notify()
        return web.Response(text="ok")

    # ------------------------------------------------------------ Socket Mode

    @property
    def open_sockets(self) -> int:
        return sum(1 for s in self._sockets if not s.ws.closed)

    async def wait_socket(self, *, connections: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``connections`` sockets have been opened in total and one is open now."""
        await self.wait_for(lambda: self.socket_connections >= connections and self.open_sockets > 0, timeout)

    async def drop_sockets(self) -> None:
        """Close every Socket Mode connection (as Slack does on a refresh); the client must reconnect."""
        for s in list(self._sockets):
            await s.ws.close(code=1001, message=b"refresh")

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_sockets:
            return web.Response(status=503, text="unavailable")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        sock = _Socket(ws)
        self._sockets.append(sock)
        self.socket_connections += 1
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets),
                            "debug_info": {"host": "fake"}, "connection_info": {"app_id": "A0FAKE"}})
        await self._notify()
        await self._flush()
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await self._on_ack(msg.data)
        finally:
            self._sockets.remove(sock)
            await self._notify()
        return ws

    async def _on_ack(self, data: str) -> None:
        ack = json.loads(data)
        env = self.envelopes.get(str(ack.get("envelope_id")))
        if env is None or env.acked_at is not None:
            return
        env.acked_at = asyncio.get_running_loop().time()
        env.ack_payload = ack.get("payload")
        await self._notify()

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for eid in pending:
            await self._deliver(eid)

    async def _deliver(self, eid: str) -> None:
        live = [s for s in self._sockets if not s.ws.closed]
        if not live:
            self._pending.append(eid)
            return
        env = self.envelopes[eid]
        sock = live[-1]
        frame = {"envelope_id": eid, "type": env.type, "payload": env.payload,
                 "accepts_response_payload": env.type != "interactive", "retry_attempt": 0,
                 "retry_reason": ""}
        env.deliveries += 1
        try:
            await sock.ws.send_json(frame)
        except (ConnectionError, RuntimeError):
            self._pending.append(eid)

    async def _inject(self, type_: str, payload: dict[str, Any]) -> Envelope:
        env = Envelope(f"env-{next(self._ids)}", type_, payload)
        self.envelopes[env.envelope_id] = env
        env.sent_at = asyncio.get_running_loop().time()
        await self._deliver(env.envelope_id)
        return env

    async def slash_command(self, text: str, *, user_id: str = "U0OP", channel_id: str = "C0OPS",
                            command: str = "/proc", user_name: str = "") -> Envelope:
        """Send ``/proc text`` as ``user_id`` (queued until a socket is open)."""
        payload = slash_payload(text, user_id=user_id, channel_id=channel_id, command=command,
                                response_url=self.new_response_url(), team_id=self.team_id,
                                user_name=user_name)
        return await self._inject("slash_commands", payload)

    async def press(self, value: str, *, user_id: str = "U0OP", channel_id: str = "C0OPS",
                    is_ephemeral: bool = True, message_ts: str = "1700000000.000100",
                    action_id: str = "procbot:0") -> Envelope:
        """Click a button whose value is ``value`` as ``user_id``; answers go to a new response URL."""
        payload = block_action_payload(value, user_id=user_id, channel_id=channel_id,
                                       response_url=self.new_response_url(), team_id=self.team_id,
                                       is_ephemeral=is_ephemeral, message_ts=message_ts,
                                       action_id=action_id)
        return await self._inject("interactive", payload)

    async def wait_ack(self, env: Envelope, timeout: float = 5.0) -> float:
        """Seconds from sending ``env`` to its ack."""
        await self.wait_for(lambda: env.acked_at is not None, timeout)
        assert env.acked_at is not None and env.sent_at is not None
        return env.acked_at - env.sent_at

    # ------------------------------------------------------------ limits, poison, files

    def _refusal(self, method: str, args: dict[str, Any]) -> web.Response | None:
        if method not in ("chat.postMessage", "chat.update"):
            return None
        blocks = _blocks(args.get("blocks"))
        everything = str(args.get("text", "")) + json.dumps(blocks)
        for needle, (status, error) in self.poisoned.items():
            if needle in everything:
                if status == 200:
                    return web.json_response({"ok": False, "error": error})
                return web.Response(status=status, text=error)
        if self.blocks_text_limit is not None and blocks_text_size(blocks) > self.blocks_text_limit:
            return web.json_response({"ok": False, "error": "msg_blocks_too_long"})
        return None

    def poison(self, needle: str, *, status: int = 200, error: str = "msg_blocks_too_long") -> None:
        """Refuse every message containing ``needle`` for ever: ``status`` 200 answers ``ok: false``."""
        self.poisoned[needle] = (status, error)

    async def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0]}}

    async def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        fid = f"F{next(self._ids):06d}"
        self._uploads[fid] = b""
        self._upload_names[fid] = str(args.get("filename", ""))
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{fid}", "file_id": fid}

    async def _upload(self, request: web.Request) -> web.Response:
        fid = request.match_info["fid"]
        if fid not in self._uploads:
            return web.Response(status=404, text="no such upload")
        self._uploads[fid] = await request.read()
        return web.Response(text=f"OK - {len(self._uploads[fid])}")

    async def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        raw = args.get("files")
        items = json.loads(raw) if isinstance(raw, str) else list(raw or [])
        done = []
        for item in items:
            fid = str(item.get("id"))
            if fid not in self._uploads:
                return {"ok": False, "error": "file_not_found"}
            f = UploadedFile(fid, self._upload_names.get(fid, ""), str(item.get("title") or ""),
                             self._uploads.pop(fid), args.get("channel_id"), args.get("thread_ts"),
                             args.get("initial_comment"))
            self.files.append(f)
            done.append({"id": fid, "name": f.filename, "title": f.title})
        await self._notify()
        return {"ok": True, "files": done}


# ---------------------------------------------------------------- payloads


def _blocks(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        return json.loads(raw) if raw else []
    return list(raw or [])


def slash_payload(text: str, *, user_id: str, response_url: str, channel_id: str = "C0OPS",
                  command: str = "/proc", team_id: str = "T0FAKE", user_name: str = "") -> dict[str, str]:
    return {
        "token": "verification-token-unused",
        "team_id": team_id,
        "team_domain": "fake",
        "channel_id": channel_id,
        "channel_name": "ops",
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0FAKE",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"trigger-{time.monotonic_ns()}",
    }


def block_action_payload(value: str, *, user_id: str, response_url: str, channel_id: str = "C0OPS",
                         team_id: str = "T0FAKE", is_ephemeral: bool = True,
                         message_ts: str = "1700000000.000100", action_id: str = "procbot:0") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id},
        "api_app_id": "A0FAKE",
        "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": is_ephemeral},
        "trigger_id": f"trigger-{time.monotonic_ns()}",
        "team": {"id": team_id, "domain": "fake"},
        "channel": {"id": channel_id, "name": "ops"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b0", "value": value, "type": "button",
                     "text": {"type": "plain_text", "text": "button"}, "action_ts": str(time.time())}],
    }


# ---------------------------------------------------------------- HTTP mode signing


def sign(secret: str, timestamp: str, body: str) -> str:
    """Slack's v0 request signature."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def form_body(fields: dict[str, Any]) -> str:
    return urllib.parse.urlencode(fields)


def action_body(payload: dict[str, Any]) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


async def post_signed(
    url: str,
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> tuple[int, str]:
    """POST a form body to the app's HTTP endpoint as Slack would; returns (status, text)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature or sign(secret, ts, body),
    }
    async with aiohttp.ClientSession() as session, session.post(url, data=body.encode(), headers=headers,
                                                                 timeout=aiohttp.ClientTimeout(total=5)) as r:
        return r.status, await r.text()


# ---------------------------------------------------------------- additions: limits, poison, files


@dataclass
class UploadedFile:
    file_id: str
    filename: str
    title: str
    content: bytes
    channel: str | None
    thread_ts: str | None
    initial_comment: str | None


def blocks_text_size(blocks: list[dict[str, Any]]) -> int:
    """Characters of every text object in ``blocks`` (what Slack adds up for msg_blocks_too_long)."""
    total = 0

    def walk(node: Any) -> None:
        nonlocal total
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                total += len(node["text"])
            for v in node.values():
                if isinstance(v, dict | list):
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(blocks)
    return total
