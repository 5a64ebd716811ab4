"""Slack in front of the dispatcher: slash command, buttons, alerts.

The adapter holds no business rules. It turns a Slack payload into a
:class:`CommandContext` (user ID plus the user groups that grants mention),
hands the text or button value to the :class:`CommandHandler`, and renders
the returned :class:`Reply` as Block Kit (:mod:`adapters.slack.render`).

Timing: Slack drops a command that is not acknowledged within 3 s, so every
listener acks first (empty ack) and does the work in a task the adapter owns
(:meth:`Adapter.run_task`); the result goes back through the payload's ``response_url``.

Connection: Socket Mode (default) or HTTP mode, chosen by config. The
:class:`~adapters.base.Adapter` base connects in the background and backs off
on failure, so a Slack outage or bad token is logged and never stops procbot.
Once connected, slack_sdk's Socket Mode client reconnects by itself, so a
session here lasts until stop().

Message references returned by :meth:`SlackAdapter.post` are
``"<channel>:<ts>"``; :meth:`update` and ``thread_ref`` also accept a bare ts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.base import Adapter, Backoff
from adapters.slack.render import ACTION_PREFIX, MAX_BLOCKS, MAX_TOTAL_TEXT, SlackMessage, render
from adapters.slack.secrets import SlackSecrets
from adapters.slack.usergroups import GroupLookupFailed, UsergroupCache
from adapters.text_render import Attachment
from core.actor import Actor, CommandContext
from core.clock import Clock
from core.errors import DeliveryError
from core.ports import CommandHandler
from core.reply import Reply, Tone
from core.spec import SlackSettings

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"

#: API errors Slack documents as temporary: the only ``ok: false`` answers worth sending again
TEMPORARY_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org"})


def retry_handlers(rate_limit_retries: int = 2, server_error_retries: int = 2) -> list[AsyncRetryHandler]:
    """slack_sdk's own handlers: 429 waits for Retry-After, 500/503 back off, resets retry once."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=1),
        AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        AsyncServerErrorRetryHandler(max_retry_count=server_error_retries),
    ]


def parse_ref(ref: str) -> tuple[str | None, str]:
    """``"C123:1700000000.000100"`` -> ("C123", ts); a bare ts -> (None, ts)."""
    channel, sep, ts = ref.rpartition(":")
    return (channel or None, ts) if sep else (None, ref)


def delivery_error(e: Exception, what: str) -> DeliveryError:
    """Classify a failed Web API call for the outbox: retry later, or give up.

    The rule is whether sending the same request again can succeed: a 429 or
    ``ratelimited`` can (after Retry-After); a 5xx, a network error or one of
    the :data:`TEMPORARY_ERRORS` Slack documents as transient can. Anything
    else, an ``ok: false`` answer to an HTTP 200 included, is Slack judging
    *this request* and gets the same answer next time: an unknown error code
    is permanent, so it fails once, visibly, instead of retrying for a day.
    """
    if isinstance(e, SlackApiError):
        status = e.response.status_code
        data = e.response.data if isinstance(e.response.data, dict) else {}
        code = str(data.get("error") or f"HTTP {status}")
        retry_after: float | None = None
        if status == 429 or code == "ratelimited":
            raw = e.response.headers.get("Retry-After")
            with contextlib.suppress(TypeError, ValueError):
                retry_after = float(raw[0] if isinstance(raw, list) else raw)
            return DeliveryError(f"Slack {what}: rate limited", retryable=True, retry_after=retry_after)
        if status >= 500 or code in TEMPORARY_ERRORS:
            return DeliveryError(f"Slack {what}: {code}", retryable=True)
        return DeliveryError(f"Slack {what}: {code}", retryable=False)
    return DeliveryError(f"Slack {what}: {type(e).__name__}: {e}", retryable=True)


class _DropTokenNotice(logging.Filter):
    """Bolt warns that `token` is unused whenever SLACK_BOT_TOKEN is set and a client is given: noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("procbot.slack.bolt")
    if not any(isinstance(f, _DropTokenNotice) for f in logger.filters):
        logger.addFilter(_DropTokenNotice())
    return logger


class SlackAdapter(Adapter):
    """One Slack workspace connection. Also the :class:`Messenger` for ``slack:CHANNEL`` alerts."""

    platform = "slack"

    def __init__(
        self,
        settings: SlackSettings,
        handler: CommandHandler,
        secrets: SlackSecrets,
        *,
        clock: Clock | None = None,
        ping_interval: float = 10.0,
        connect_timeout: float = 15.0,
        backoff: Backoff | None = None,
        stop_grace: float = 5.0,
    ) -> None:
        if settings.mode == "socket" and not secrets.app_token:
            raise ValueError("Slack Socket Mode needs an app-level token (xapp-...)")
        if settings.mode == "http" and not secrets.signing_secret:
            raise ValueError("Slack HTTP mode needs the app's signing secret")
        super().__init__(clock=clock, backoff=backoff, stop_grace=stop_grace)
        self.settings = settings
        self._handler = handler
        self._secrets = secrets
        self._ping_interval = ping_interval
        self._connect_timeout = connect_timeout

        self.client = AsyncWebClient(
            token=secrets.bot_token,
            base_url=settings.api_url or DEFAULT_API_URL,
            retry_handlers=retry_handlers(),
            logger=logging.getLogger("procbot.slack.sdk"),
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=secrets.signing_secret,
            # Socket Mode payloads are not signed; HTTP ones must be.
            request_verification_enabled=settings.mode == "http",
            logger=_bolt_logger(),
        )
        self.app.command(settings.command)(self._on_command)
        self.app.action(re.compile("^" + re.escape(ACTION_PREFIX)))(self._on_action)
        self._groups = UsergroupCache(self._usergroup_members, settings.usergroup_cache_ttl, self.clock)

        self._session_http: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._serving = False
        #: bound port in HTTP mode (useful when settings.http_port is 0)
        self.http_port: int | None = None
        #: bot identity from auth.test, once connected
        self.bot_user_id: str | None = None

    # ------------------------------------------------------------ lifecycle

    async def _open(self) -> None:
        self._session_http = aiohttp.ClientSession()
        self.client.session = self._session_http

    @property
    def connected(self) -> bool:
        """Polled: slack_sdk has no "connected" callback (it reconnects internally)."""
        if self.settings.mode == "http":
            return self._serving
        client = self._socket.client if self._socket else None
        return bool(
            client is not None
            and not client.closed
            and not client.stale
            and client.current_session is not None
            and not client.current_session.closed
        )

    async def _session(self) -> None:
        await self._connect_once()
        self._set_connected(True)
        await asyncio.Event().wait()  # slack_sdk keeps the socket up from here; stop() cancels this

    def _session_failed(self, e: Exception) -> None:
        if isinstance(e, SlackApiError):
            log.error("slack: connect failed: %s", _api_error(e))
        else:
            log.warning("slack: connect failed: %s: %s", type(e).__name__, e)

    async def _close(self) -> None:
        """Close the socket (waiting for the SDK's loops), the HTTP listener and the HTTP session."""
        if self._socket is not None:
            client = self._socket.client
            try:
                async with asyncio.timeout(3):
                    await self._socket.close_async()
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                log.warning("slack: socket did not close cleanly: %s", e)
            # close() cancels the SDK's loops without waiting for them; wait here.
            loops = [f for f in (client.message_processor, client.current_session_monitor,
                                 client.message_receiver) if f is not None]
            if loops:
                _, stuck = await asyncio.wait(loops, timeout=2)
                for f in stuck:  # a peer that stopped answering leaves a receive pending
                    f.cancel()
                await asyncio.gather(*loops, return_exceptions=True)
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._serving = False
        if self._session_http is not None:
            await self._session_http.close()
            self._session_http = None

    async def _connect_once(self) -> None:
        auth = await self.client.auth_test()
        self.bot_user_id = auth.get("user_id")
        if self.settings.mode == "http":
            await self._serve_http()
        else:
            await self._open_socket()
        log.info("slack: connected as %s in team %s (%s mode)", auth.get("user"), auth.get("team"),
                 self.settings.mode)

    async def _open_socket(self) -> None:
        if self._socket is None:
            self._socket = AsyncSocketModeHandler(
                self.app,
                app_token=self._secrets.app_token,
                ping_interval=self._ping_interval,
            )
        client = self._socket.client
        # Ask for the URL ourselves: a bad app token then fails here (and backs off)
        # instead of inside the SDK's own connect loop.
        client.wss_uri = await client.issue_new_wss_url()
        async with asyncio.timeout(self._connect_timeout):
            await self._socket.connect_async()

    async def _serve_http(self) -> None:
        if self._runner is None:
            self._runner = web.AppRunner(self.app.web_app(path=self.settings.http_path), access_log=None)
            await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.http_port = sockets[0].getsockname()[1] if sockets else self.settings.http_port
        self._serving = True

    # ------------------------------------------------------------ listeners

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        if not self.stopping:  # shutting down: acked, so Slack does not retry, and not started
            self.run_task(self._run_command(body), f"slack-command-{body.get('trigger_id', '')}")

    async def _on_action(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        if not self.stopping:
            self.run_task(self._run_action(body), f"slack-action-{body.get('trigger_id', '')}")

    async def _run_command(self, body: dict[str, Any]) -> None:
        text = str(body.get("text") or "")
        user_id = str(body.get("user_id") or "")
        channel = body.get("channel_id")
        response_url = body.get("response_url")
        try:
            ctx = await self._context(user_id, str(body.get("user_name") or ""), channel)
            reply = await self._handler.handle(text, ctx)
        except GroupLookupFailed as e:
            reply = _lookup_failed_reply(e)
            await self._audit_refusal(user_id, str(body.get("user_name") or ""), channel, text, e)
        except Exception:  # boundary: the dispatcher must never take the adapter down
            log.exception("slack: command %r from %s failed", text[:100], user_id)
            reply = Reply.internal_error()
        await self._respond(response_url, reply, channel=channel, user_id=user_id)

    async def _run_action(self, body: dict[str, Any]) -> None:
        user = body.get("user") or {}
        user_id = str(user.get("id") or "")
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        actions = body.get("actions") or [{}]
        value = str(actions[0].get("value") or "")
        try:
            ctx = await self._context(user_id, str(user.get("username") or user.get("name") or ""), channel)
            reply = await self._handler.press(value, ctx)
        except GroupLookupFailed as e:
            reply = _lookup_failed_reply(e)
            name = str(user.get("username") or user.get("name") or "")
            await self._audit_refusal(user_id, name, channel, f"button {value}", e)
        except Exception:  # boundary, as in _run_command
            log.exception("slack: button %r pressed by %s failed", value[:100], user_id)
            reply = Reply.internal_error()
        # A confirmation prompt is replaced by its outcome; a refusal (someone else
        # pressed, or it expired) leaves the prompt and answers only the presser.
        decision = value.startswith(("confirm:", "cancel:")) or bool(container.get("is_ephemeral"))
        await self._respond(
            body.get("response_url"),
            reply,
            channel=channel,
            user_id=user_id,
            replace_original=reply.ok and decision,
        )

    def visible_to_channel(self, reply: Reply) -> bool:
        """In channel only for successful results that were asked to be public.

        The dispatcher clears ``ephemeral`` for ``--public``; ``public_replies``
        makes every plain result public. Errors, refusals and confirmation
        prompts (replies with buttons) always stay with the asker.
        """
        if not reply.ok:
            return False
        return not reply.ephemeral or (self.settings.public_replies and not reply.buttons)

    async def _context(self, user_id: str, display_name: str, channel: str | None) -> CommandContext:
        wanted = self._handler.groups_of_interest("slack")
        groups = await self._groups.groups_of(user_id, wanted) if wanted else frozenset()
        actor = Actor(platform="slack", user_id=user_id, display_name=display_name, groups=groups)
        return CommandContext(actor=actor, channel=channel)

    async def _audit_refusal(self, user_id: str, display_name: str, channel: str | None, command: str,
                             e: GroupLookupFailed) -> None:
        """Every command is audited, also one refused because Slack would not say who is in which group."""
        ctx = CommandContext(Actor(platform="slack", user_id=user_id, display_name=display_name), channel=channel)
        try:
            await self._handler.refused(ctx, command, f"Slack is not answering: {e.reason}")
        except Exception:  # boundary: the refusal was answered; a failed audit row is logged, not raised
            log.exception("slack: could not audit a refused command from %s", user_id)

    async def _usergroup_members(self, group_id: str) -> list[str]:
        resp = await self.client.usergroups_users_list(usergroup=group_id)
        return [str(u) for u in resp.get("users") or []]

    # ------------------------------------------------------------ replies

    async def _respond(
        self,
        response_url: str | None,
        reply: Reply,
        *,
        channel: str | None,
        user_id: str,
        replace_original: bool = False,
    ) -> None:
        """Send ``reply`` to the response URL; if that finally fails, tell the user another way.

        A reply too big for one message (``/proc logs web 500``) is shown cut, and the whole
        output is uploaded as a file: to the channel when the reply is public, else to the
        asker's direct messages with procbot (a response URL cannot carry a file).
        """
        msg = render(reply)
        public = self.visible_to_channel(reply)
        if msg.attachment is not None:
            msg = await self._with_file(msg, public=public, channel=channel, user_id=user_id)
        payload: dict[str, Any] = {
            "text": msg.text,
            "blocks": msg.blocks,
            "response_type": "in_channel" if public else "ephemeral",
        }
        if replace_original:
            payload["replace_original"] = True
        problem = "no response_url in the payload"
        if response_url:
            webhook = AsyncWebhookClient(
                url=response_url,
                session=self._session_http,
                retry_handlers=retry_handlers(),
                logger=logging.getLogger("procbot.slack.sdk"),
            )
            try:
                resp = await webhook.send_dict(payload)
                if resp.status_code == 200:
                    return
                problem = f"HTTP {resp.status_code} {resp.body[:100]!r}"
            except (aiohttp.ClientError, TimeoutError) as e:
                problem = f"{type(e).__name__}: {e}"
        log.warning("slack: could not answer %s via response_url: %s", user_id, problem)
        await self._tell_failure(channel, user_id, reply)

    async def _with_file(self, msg: SlackMessage, *, public: bool, channel: str | None,
                         user_id: str) -> SlackMessage:
        """Upload the whole output and add a note saying where it is (render kept room for it)."""
        assert msg.attachment is not None
        where: str | None = channel if public else None
        if not public and user_id:
            try:
                opened = await self.client.conversations_open(users=user_id)
                where = str((opened.get("channel") or {}).get("id") or "") or None
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as e:
                log.warning("slack: could not open a direct message with %s: %s", user_id, _api_error(e))
        if not where or not await self._upload(msg.attachment, where):
            return msg
        said = "above" if public else "in your direct messages with procbot"
        note = {"type": "context", "elements": [{"type": "mrkdwn", "verbatim": True,
                                                  "text": f":page_facing_up: The whole output is {said} "
                                                          f"as `{msg.attachment.filename}`."}]}
        blocks = list(msg.blocks)
        notes = [i for i, b in enumerate(blocks) if b.get("type") == "context"]
        at = notes[-1] + 1 if notes else len(blocks)
        if len(blocks) < MAX_BLOCKS:  # after the notes saying what was cut, before the buttons
            blocks.insert(at, note)
        elif notes:
            blocks[notes[-1]] = note
        return SlackMessage(blocks=blocks, text=msg.text, attachment=msg.attachment)

    async def _tell_failure(self, channel: str | None, user_id: str, reply: Reply) -> None:
        if not channel or not user_id:
            return
        text = (
            f"procbot could not deliver the result of your command ({reply.title}); "
            "Slack refused or timed out. Check with `status` before retrying."
        )
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user_id, text=text)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as e:
            log.error("slack: could not tell %s about a failed reply either: %s", user_id, _api_error(e))

    # ------------------------------------------------------------ Messenger

    async def post(self, channel: str, reply: Reply, thread_ref: str | None = None) -> str:
        """Post an alert or digest; returns ``"<channel>:<ts>"``. Raises ``DeliveryError``."""
        msg = render(reply)
        kwargs: dict[str, Any] = {"channel": channel, "text": msg.text, "blocks": msg.blocks,
                                  "unfurl_links": False, "unfurl_media": False}
        if thread_ref:
            kwargs["thread_ts"] = parse_ref(thread_ref)[1]
        try:
            try:
                resp = await self.client.chat_postMessage(**kwargs)
            except SlackApiError as e:
                if _api_error(e) != "msg_blocks_too_long":
                    raise
                # Slack's total is undocumented: if it is lower than we think, send a third of it
                # (the rest goes in the file) rather than lose the alert
                msg = render(reply, total=MAX_TOTAL_TEXT // 3)
                if msg.attachment is None:
                    raise
                log.warning("slack: message refused as too long; sending it shorter with the rest as a file")
                resp = await self.client.chat_postMessage(**{**kwargs, "blocks": msg.blocks})
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as e:
            raise delivery_error(e, "chat.postMessage") from e
        posted_in = str(resp.get("channel") or channel)
        if msg.attachment is not None:  # the whole log or table, in the message's thread
            await self._upload(msg.attachment, posted_in, thread_ts=kwargs.get("thread_ts") or resp["ts"])
        return f"{posted_in}:{resp['ts']}"

    async def _upload(self, attachment: Attachment, channel: str, *, thread_ts: str | None = None,
                      comment: str | None = None) -> bool:
        """Upload a file snippet (files_upload_v2); False, logged, if Slack refuses (e.g. no files:write).

        Never raises: the message it belongs to is already delivered, and a retry would post it twice.
        """
        try:
            await self.client.files_upload_v2(
                channel=channel, thread_ts=thread_ts, filename=attachment.filename, title=attachment.title,
                content=attachment.content, snippet_type="text", initial_comment=comment,
            )
        except (SlackApiError, SlackRequestError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("slack: could not upload %s to %s: %s", attachment.filename, channel, _api_error(e))
            return False
        return True

    async def update(self, channel: str, ref: str, reply: Reply) -> None:
        """Replace a posted message in place. Raises ``DeliveryError``."""
        ref_channel, ts = parse_ref(ref)
        msg = render(reply)
        try:
            await self.client.chat_update(channel=ref_channel or channel, ts=ts, text=msg.text,
                                          blocks=msg.blocks)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as e:
            raise delivery_error(e, "chat.update") from e


def _api_error(e: Exception) -> str:
    if isinstance(e, SlackApiError):
        data = e.response.data if isinstance(e.response.data, dict) else {}
        return str(data.get("error") or f"HTTP {e.response.status_code}")
    return f"{type(e).__name__}: {e}"


def _lookup_failed_reply(e: GroupLookupFailed) -> Reply:
    wait = f" Try again in {e.retry_after:.0f} s." if e.retry_after else " Try again shortly."
    return Reply(
        title="Slack is not answering",
        text=f"procbot could not check your Slack user groups ({e.reason}), so nothing was done.{wait}",
        tone=Tone.ERROR,
        ok=False,
        error_code="slack_unavailable",
    )
