"""Host side of commands: ``procbot.cmd.<host>`` answered by this host's own dispatcher.

Each request is handled in a task of its own (a ``restart`` that takes
seconds must not queue the ``status`` behind it); the tasks are owned and
awaited on stop. Every request gets exactly one reply, an error Reply for
malformed input, never silence that would leave the front waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from core.errors import InvalidInput
from core.fleet.codec import CommandRequest, decode_request, encode_reply
from core.fleet.subjects import cmd_subject
from core.ports import CommandHandler
from core.reply import Reply
from core.tasks import cancel_and_wait

#: seconds a command still running at shutdown may take to reply before it is cancelled
STOP_GRACE = 5.0

log = logging.getLogger(__name__)

#: answers one kind of request that is not a typed command (``digest``: core.fleet.digests)
KindHandler = Callable[[CommandRequest], Awaitable[Reply]]


class CommandService:
    def __init__(self, host: str, handler: CommandHandler) -> None:
        self.host = host
        self.handler = handler
        self._sub: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: requests answered (tests and the benchmark read it)
        self.answered = 0
        self._kinds: dict[str, KindHandler] = {}

    def on_kind(self, kind: str, handler: KindHandler) -> None:
        """Answer requests of ``kind`` (not typed commands) with ``handler``."""
        self._kinds[kind] = handler

    async def attach(self, nc: Client) -> None:
        """Subscribe (FleetLink.on_connect); nats-py keeps the subscription across reconnects."""
        self._sub = await nc.subscribe(cmd_subject(self.host), cb=self._on_request)

    async def _on_request(self, msg: Msg) -> None:
        task = asyncio.create_task(self._answer(msg), name="fleet-command")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Msg) -> None:
        try:
            req = decode_request(msg.data)
        except InvalidInput as e:
            reply = Reply.error(e)
        else:
            try:
                if req.kind == "press":
                    reply = await self.handler.press(req.text, req.ctx)
                elif req.kind == "handle":
                    reply = await self.handler.handle(req.text, req.ctx)
                elif req.kind in self._kinds:
                    reply = await self._kinds[req.kind](req)
                else:
                    reply = Reply.error(InvalidInput(f"{self.host} does not answer {req.kind} requests."))
            except Exception:  # boundary: the dispatcher never raises for bad input; a bug still gets a reply
                log.exception("fleet command %r failed on %s", req.text, self.host)
                reply = Reply.internal_error()
        reply.data.setdefault("host", self.host)
        if not msg.reply:
            return
        try:
            await msg.respond(encode_reply(reply))
            self.answered += 1
        except (nats.errors.Error, OSError) as e:  # link lost mid-request: the front times out
            log.warning("could not answer a fleet command on %s: %s", self.host, e)

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except nats.errors.Error as e:  # a closed connection: nothing left to unsubscribe from
                log.debug("fleet command unsubscribe: %s", e)
            self._sub = None
        if self._tasks:  # commands in flight finish (briefly) and reply; what is left is cancelled
            _, left = await asyncio.wait(list(self._tasks), timeout=STOP_GRACE)
            await cancel_and_wait(left)
