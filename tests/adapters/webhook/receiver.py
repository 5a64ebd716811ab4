"""A local HTTP receiver standing in for PagerDuty, ntfy or an operator's tool.

It checks each request's signature with its own HMAC computation (not
procbot's helper), records what arrived, and answers from a script of
statuses so a test can make it fail first and succeed later.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.helpers import wait_for


@dataclass
class Received:
    at: float  # loop time on arrival
    headers: dict[str, str]
    body: bytes
    signed_ok: bool | None  # None: the receiver has no secret
    status: int  # what the receiver answered

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    text: str = "ok"


class Receiver:
    def __init__(self, secret: str | None = None, answers: list[Answer] | None = None) -> None:
        self.secret = secret
        self.answers = list(answers or [])  # consumed in order; then 200
        self.received: list[Received] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def _signed_ok(self, request: web.Request, body: bytes) -> bool | None:
        if self.secret is None:
            return None
        stamp = request.headers.get("X-Procbot-Timestamp", "")
        expected = "sha256=" + hmac.new(self.secret.encode(), stamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, request.headers.get("X-Procbot-Signature", ""))

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        answer = self.answers.pop(0) if self.answers else Answer()
        signed = self._signed_ok(request, body)
        if signed is False:
            answer = Answer(401, text="bad signature")
        self.received.append(Received(asyncio.get_running_loop().time(), dict(request.headers), body, signed,
                                      answer.status))
        return web.Response(status=answer.status, headers=answer.headers, text=answer.text)

    async def wait_requests(self, n: int, timeout: float = 15.0) -> list[Received]:
        await wait_for(lambda: len(self.received) >= n, timeout)
        return self.received

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]


