"""Discord front end: the ``/proc`` slash commands, buttons, and alert delivery.

One session of the :class:`~adapters.base.Adapter` base is one
``discord.Client`` from login to close. discord.py already resumes dropped
gateway sessions by itself; the base adds what it does not do: it survives
failures that end ``Client.connect()`` (bad token, HTTP errors at login,
unexpected close codes, a malformed gateway payload) by logging them once and
starting a fresh client after a back-off, so a Discord outage never takes the
supervisor down.

Every interaction is answered by a task the adapter owns (cancelled and
awaited on :meth:`Adapter.stop`). Quick commands answer directly;
slow ones, and any command not finished within :data:`RESPOND_WITHIN`
seconds, are deferred first (Discord drops an interaction not acknowledged
within 3 s) and then edit the original response.

One process talks to one Discord API base: discord.py keeps the REST base
(``discord.http.Route.BASE``) and the gateway URL
(``DiscordWebSocket.DEFAULT_GATEWAY``) in class-level globals, which
:meth:`DiscordAdapter.start` sets when the config overrides them and
:meth:`DiscordAdapter.stop` restores.
"""

from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands

from adapters.base import Adapter, Backoff
from adapters.discord.commands import build_group, options
from adapters.discord.render import NO_MENTIONS, CustomIds, Rendered, render
from core.actor import Actor, CommandContext
from core.clock import Clock
from core.commands.catalog import BY_NAME, TEXT, VERBS
from core.errors import DeliveryError, ProcbotError
from core.ports import CommandHandler
from core.reply import Reply
from core.spec import DiscordSettings

log = logging.getLogger(__name__)

#: answer directly if the handler finishes within this many seconds, else defer (Discord allows 3)
RESPOND_WITHIN = 2.0
#: verbs that change state or may take long: always deferred
SLOW_VERBS = frozenset(v.name for v in VERBS if v.slow)
#: button values whose result replaces the message that carried the button
EDITING_PRESSES = ("confirm:", "cancel:")
#: rate limits longer than this are not slept through inside discord.py but
#: surface as DeliveryError(retry_after=...) so the outbox schedules the retry
MAX_RATELIMIT_SLEEP = 30.0
SHUTTING_DOWN = "procbot is shutting down; try again in a moment."
#: the Messenger's own calls: a channel message posted or edited
_MESSAGE_CALL = re.compile(r"/channels/\d+/messages(?:/\d+)?$")
#: statuses discord.py retries by itself, sleeping 1, 3, 5, 7 and 9 s between five tries
_RETRIED_BY_DISCORD_PY = frozenset({500, 502, 504, 524})


class MessageServerError(aiohttp.ClientError):
    """A server error answering a message post or edit, raised before discord.py can retry it.

    discord.py retries a 5xx itself for 25 s, and while it does the outbox lane waits: a
    message Discord always answers with 500 would hold back the alerts queued after it.
    Raised here, the entry fails at once and moves to the outbox's own retries (with backoff
    and jitter), and the next alert goes out. Interaction answers keep discord.py's retries.
    """

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


async def _fail_message_calls_fast(_session: object, _ctx: object, params: aiohttp.TraceRequestEndParams) -> None:
    if params.response.status in _RETRIED_BY_DISCORD_PY and _MESSAGE_CALL.search(params.url.path):
        raise MessageServerError(params.response.status)


def _message_trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_fail_message_calls_fast)
    return trace

_WS = re.compile(r"\s+")

# procbot never joins voice: skip discord.py's "PyNaCl/davey is not installed" warnings
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


# --------------------------------------------------------------------------- helpers


def actor_of(interaction: discord.Interaction) -> CommandContext:
    """Who pressed/typed, by ID only, with the member's role IDs as groups.

    Role IDs come from the interaction payload itself (``member.roles``).
    discord.py keeps them on ``Member._roles``; the public ``Member.roles``
    resolves them against the guild cache, which a bot without the guilds
    intent does not have, and would silently return no roles. The guild ID
    is added too because Discord's ``@everyone`` role has the guild's ID,
    so a grant to it means "everyone in that server".
    """
    user = interaction.user
    groups: set[str] = set()
    if isinstance(user, discord.Member):
        raw = getattr(user, "_roles", None)
        ids = list(raw) if raw is not None else [r.id for r in user.roles]
        groups.update(str(i) for i in ids)
        if interaction.guild_id:
            groups.add(str(interaction.guild_id))
    actor = Actor(
        platform="discord",
        user_id=str(user.id),
        display_name=user.display_name,
        groups=frozenset(groups),
    )
    channel = str(interaction.channel_id) if interaction.channel_id else None
    return CommandContext(actor=actor, channel=channel)


def _one_word(value: str) -> str:
    """An option meant as one grammar word stays one word.

    Whitespace becomes a visible ``␣`` and a leading ``-`` a minus sign, so
    ``target: "all --yes"`` cannot smuggle a flag or extra argument into the
    grammar; core then rejects the odd name (and audits it) like any other.
    """
    word = _WS.sub("\u2423", value.strip()) or "\u2423"
    return "\u2212" + word[1:] if word.startswith("-") else word


def _free_text(value: str) -> str:
    return " ".join("\u2212" + w[1:] if w.startswith("-") else w for w in value.split())


def command_text(verb: str, args: list[str | int | None], *, public: bool = False) -> str:
    """Grammar text for a subcommand: ``("logs", ["web", 50])`` -> ``"logs web 50"``."""
    words = [verb]
    for i, arg in enumerate(args):
        if arg is None:
            continue
        if isinstance(arg, int):
            words.append(str(arg))
        elif options(BY_NAME[verb])[i].kind == TEXT:
            words.append(_free_text(arg))
        else:
            words.append(_one_word(arg))
    if public:
        words.append("--public")
    return " ".join(w for w in words if w)


def _invoked(interaction: discord.Interaction) -> str:
    """``/proc frobnicate`` as the user typed it (subcommand names only), for the audit trail."""
    data = interaction.data or {}
    words = [str(data.get("name") or "?")]
    options = data.get("options") or []
    while options and isinstance(options[0], dict) and options[0].get("type") in (1, 2):  # subcommand (group)
        words.append(str(options[0].get("name") or "?"))
        options = options[0].get("options") or []
    return "/" + " ".join(words)


def is_private(reply: Reply) -> bool:
    """Errors and refusals are only for the asker; results only public when core says so."""
    return reply.ephemeral or not reply.ok


def delivery_error(err: BaseException, what: str) -> DeliveryError:
    """Map a discord.py/aiohttp failure to the outbox's retry contract."""
    if isinstance(err, discord.RateLimited):
        return DeliveryError(f"Discord rate limit on {what}", retryable=True, retry_after=err.retry_after)
    if isinstance(err, discord.HTTPException):
        status = err.status
        if status == 429:
            after = err.response.headers.get("Retry-After") if err.response is not None else None
            return DeliveryError(
                f"Discord rate limit on {what}", retryable=True, retry_after=float(after) if after else None
            )
        if status >= 500:
            return DeliveryError(f"Discord server error {status} on {what}", retryable=True)
        # 403 Missing Access / Missing Permissions, 404 Unknown Channel/Message, 400 bad payload
        return DeliveryError(f"Discord refused {what}: {status} {err.text or ''}".strip(), retryable=False)
    if isinstance(err, MessageServerError):
        return DeliveryError(f"Discord server error {err.status} on {what}", retryable=True)
    if isinstance(err, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        return DeliveryError(f"network error talking to Discord on {what}: {err}", retryable=True)
    return DeliveryError(f"{what} failed: {err}", retryable=True)


def _snowflake(value: str, what: str) -> int:
    if not value.isdigit():
        raise DeliveryError(f"{what} {value!r} is not a Discord ID", retryable=False)
    return int(value)


# --------------------------------------------------------------------------- client


class _Client(discord.Client):
    """A discord.Client that reports to the adapter.

    Only the ``guilds`` intent (discord.py needs it for consistent state;
    slash commands need no intent at all), no member cache, no message cache.
    """

    def __init__(self, adapter: DiscordAdapter, application_id: int | None) -> None:
        super().__init__(
            intents=discord.Intents(guilds=True),
            member_cache_flags=discord.MemberCacheFlags.none(),
            chunk_guilds_at_startup=False,
            max_ratelimit_timeout=MAX_RATELIMIT_SLEEP,
            application_id=application_id,
            max_messages=None,
            http_trace=_message_trace(),
        )
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(build_group(adapter))
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        if self.adapter.gateway:
            await self.adapter._sync_commands(self.tree)

    async def on_connect(self) -> None:
        self.adapter._set_connected(True)

    async def on_resumed(self) -> None:
        self.adapter._set_connected(True)

    async def on_disconnect(self) -> None:
        self.adapter._set_connected(False)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.adapter._on_interaction(interaction)

    async def _on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        # CommandNotFound etc.: Discord has commands this build does not know (stale sync)
        log.warning("Discord app command %r failed: %s", getattr(interaction.command, "name", "?"), error)
        reason = "This command is not available; procbot may be updating its commands."
        if not interaction.response.is_done():
            try:
                await interaction.response.send_message(reason, ephemeral=True, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as e:
                log.warning("could not answer interaction %s: %s", interaction.id, e)
        await self.adapter._audit_refusal(interaction, _invoked(interaction), f"{reason} ({type(error).__name__})")


# --------------------------------------------------------------------------- adapter


class DiscordAdapter(Adapter):
    """Slash commands and buttons in, embeds out; also the Discord :class:`Messenger`."""

    platform = "discord"

    def __init__(
        self,
        settings: DiscordSettings,
        handler: CommandHandler,
        token: str,
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        stop_grace: float = 5.0,
    ) -> None:
        super().__init__(clock=clock, backoff=backoff, stop_grace=stop_grace)
        self.settings = settings
        self.handler = handler
        self._token = token
        self.ids = CustomIds()
        self._client: _Client | None = None
        self._logged_in = asyncio.Event()
        self._synced = False
        self._saved_endpoints: tuple[str, yarl.URL] | None = None
        #: open Discord's gateway (slash commands in). False: log in for REST only (alerts still go out),
        #: for a process that must not open a second gateway session on this token; read at each session
        self.gateway = True

    # -- lifecycle ---------------------------------------------------------
    async def _open(self) -> None:
        self._configure_endpoints()

    async def _close(self) -> None:
        if self._client is not None and not self._client.is_closed():
            await self._client.close()
        self._client = None
        self._logged_in.clear()
        self._restore_endpoints()

    def _configure_endpoints(self) -> None:
        if not (self.settings.api_base or self.settings.gateway_url):
            return
        self._saved_endpoints = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        if self.settings.api_base:
            discord.http.Route.BASE = self.settings.api_base.rstrip("/")
        if self.settings.gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.settings.gateway_url)

    def _restore_endpoints(self) -> None:
        if self._saved_endpoints is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved_endpoints
            self._saved_endpoints = None

    def _application_id(self) -> int | None:
        app_id = self.settings.application_id
        return int(app_id) if app_id and app_id.isdigit() else None

    async def _session(self) -> None:
        """One client from login until its connection ends (discord.py resumes inside it)."""
        client = _Client(self, self._application_id())
        self._client = client
        try:
            async with client:
                await client.login(self._token)
                self._logged_in.set()
                if not self.gateway:
                    await asyncio.Event().wait()  # REST only, until stop()
                await client.connect(reconnect=True)
        finally:
            self._logged_in.clear()
            if not client.is_closed():
                await client.close()

    def _session_failed(self, e: Exception) -> None:
        if isinstance(e, discord.LoginFailure):
            log.error("Discord rejected the bot token (401); check %s or the token file", self.settings.token_env)
        elif isinstance(e, discord.HTTPException | discord.GatewayNotFound | discord.ConnectionClosed
                        | aiohttp.ClientError | OSError | TimeoutError):
            log.warning("Discord connection failed: %s: %s", type(e).__name__, e)
        else:  # discord.py internals (e.g. a malformed payload)
            log.error("Discord client stopped unexpectedly", exc_info=e)

    async def _sync_commands(self, tree: app_commands.CommandTree) -> None:
        """Register /proc with Discord: per guild (instant) or globally (may take an hour)."""
        guilds = [g for g in self.settings.guilds if g.isdigit()]
        for bad in set(self.settings.guilds) - set(guilds):
            log.error("discord.guilds: %r is not a guild ID; skipped", bad)
        for gid in guilds:
            tree.copy_global_to(guild=discord.Object(int(gid)))
        if self._synced:
            return
        try:
            if guilds:
                for gid in guilds:
                    await tree.sync(guild=discord.Object(int(gid)))
            else:
                await tree.sync()
            self._synced = True
            log.info("Discord commands synced to %s", ", ".join(guilds) if guilds else "all guilds (global)")
        except discord.Forbidden as e:
            log.error(
                "Discord refused to register /proc (%s); invite the bot with the applications.commands "
                "scope (procbot discord-invite)",
                e.text,
            )
        except discord.HTTPException as e:
            log.warning("Discord command sync failed (%s); will retry on the next connect", e)

    # -- slash commands ----------------------------------------------------
    async def run_command(
        self, interaction: discord.Interaction, verb: str, args: list[str | int | None], *, public: bool = False
    ) -> None:
        """Called by the /proc subcommands: answer in an owned task and return."""
        text = command_text(verb, args, public=public or self.settings.public_replies)
        if self.stopping:
            await self._refuse(interaction, SHUTTING_DOWN, audit=text)
            return
        ctx = actor_of(interaction)
        work = self.run_task(self.handler.handle(text, ctx), name=f"discord-cmd-{interaction.id}")
        self.run_task(
            self._answer(
                interaction,
                work,
                what=text,
                slow=verb in SLOW_VERBS,
                asked_public="--public" in text.split(),
                edit_origin=False,
            ),
            name=f"discord-answer-{interaction.id}",
        )

    async def autocomplete(
        self, interaction: discord.Interaction, current: str, verb: str
    ) -> list[app_commands.Choice[str]]:
        try:
            names = await self.handler.complete(current[:100], actor_of(interaction), verb)
        except Exception:  # boundary: autocomplete must answer (empty) rather than hang the form
            log.exception("Discord autocomplete for %s failed", verb)
            return []
        return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]

    # -- buttons -----------------------------------------------------------
    def _on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.component:
            return
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        if not custom_id.startswith(self.ids.prefix):
            return
        value = self.ids.decode(custom_id)
        if self.stopping:
            what = f"button {value}" if value is not None else "button (expired)"
            self.run_task(self._refuse(interaction, SHUTTING_DOWN, audit=what), name=f"discord-stop-{interaction.id}")
            return
        ctx = actor_of(interaction)
        if value is None:
            self.run_task(self._stale_button(interaction), name=f"discord-stale-{interaction.id}")
            return
        work = self.run_task(self.handler.press(value, ctx), name=f"discord-press-{interaction.id}")
        self.run_task(
            self._answer(
                interaction,
                work,
                what=f"button {value.partition(':')[0]}",
                slow=False,
                asked_public=False,
                edit_origin=value.startswith(EDITING_PRESSES),
            ),
            name=f"discord-answer-{interaction.id}",
        )

    async def _stale_button(self, interaction: discord.Interaction) -> None:
        await self._refuse(interaction, "This button has expired; run the command again.", audit="button (expired)")

    async def _refuse(self, interaction: discord.Interaction, text: str, *, audit: str) -> None:
        """Answer a request procbot will not run, and audit it like every other command."""
        try:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as e:
            log.warning("could not answer Discord interaction %s: %s", interaction.id, e)
        await self._audit_refusal(interaction, audit, text)

    async def _audit_refusal(self, interaction: discord.Interaction, command: str, reason: str) -> None:
        try:
            await self.handler.refused(actor_of(interaction), command, reason)
        except Exception:  # boundary: the user has their answer; a failed audit row is logged, not raised
            log.exception("could not audit refused Discord interaction %s", interaction.id)

    # -- answering ---------------------------------------------------------
    def _reply_of(self, task: asyncio.Task[Reply], what: str) -> Reply:
        try:
            return task.result()
        except ProcbotError as e:
            return Reply.error(e)
        except Exception:  # boundary: a bug in core must not leave the user with "did not respond"
            log.exception("Discord command %r failed inside procbot", what)
            return Reply.internal_error()

    async def _answer(
        self,
        interaction: discord.Interaction,
        work: asyncio.Task[Reply],
        *,
        what: str,
        slow: bool,
        asked_public: bool,
        edit_origin: bool,
    ) -> None:
        """Answer directly when ``work`` is quick, else acknowledge first and edit afterwards."""
        try:
            if not slow:
                await asyncio.wait({work}, timeout=RESPOND_WITHIN)
            if not slow and work.done():
                await self._respond_now(interaction, self._reply_of(work, what), edit_origin=edit_origin)
                return
            if edit_origin:
                await interaction.response.defer()  # "deferred update": the button's message is edited later
            else:
                await interaction.response.defer(ephemeral=not asked_public, thinking=True)
            await asyncio.wait({work})
            reply = self._reply_of(work, what)
            await self._respond_deferred(interaction, reply, asked_public=asked_public, edit_origin=edit_origin)
        except (discord.HTTPException, aiohttp.ClientError, OSError) as e:  # refused, or the connection dropped
            log.warning("could not answer Discord interaction %s (%s): %s", interaction.id, what, e)

    async def _respond_now(self, interaction: discord.Interaction, reply: Reply, *, edit_origin: bool) -> None:
        rendered = render(reply, self.ids)
        if edit_origin and reply.ok:
            await interaction.response.edit_message(**rendered.edit_kwargs())
        else:
            await interaction.response.send_message(ephemeral=is_private(reply), **rendered.send_kwargs())

    async def _respond_deferred(
        self, interaction: discord.Interaction, reply: Reply, *, asked_public: bool, edit_origin: bool
    ) -> None:
        rendered: Rendered = render(reply, self.ids)
        if edit_origin and not reply.ok:
            # a refusal must not replace the asker's confirmation: tell only the presser
            await interaction.followup.send(ephemeral=True, **rendered.send_kwargs())
        elif not edit_origin and asked_public and is_private(reply):
            # deferred in public, but the answer is an error: keep it between us
            await interaction.delete_original_response()
            await interaction.followup.send(ephemeral=True, **rendered.send_kwargs())
        else:
            await interaction.edit_original_response(**rendered.edit_kwargs(with_file=not edit_origin))

    # -- Messenger ---------------------------------------------------------
    def _rest_client(self) -> _Client:
        client = self._client
        if client is None or not self._logged_in.is_set() or client.is_closed():
            raise DeliveryError("Discord is not connected yet", retryable=True, retry_after=5.0)
        return client

    async def post(self, channel: str, reply: Reply, thread_ref: str | None = None) -> str:
        """Post an alert/digest; ``thread_ref`` (a message ID) makes it a reply to that message."""
        channel_id = _snowflake(channel, "channel")
        client = self._rest_client()
        kwargs = render(reply, self.ids).send_kwargs()
        if thread_ref:
            kwargs["reference"] = discord.MessageReference(
                message_id=_snowflake(thread_ref, "message"), channel_id=channel_id, fail_if_not_exists=False
            )
        try:
            message = await client.get_partial_messageable(channel_id).send(**kwargs)  # type: ignore[arg-type]
        except (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError) as e:
            raise delivery_error(e, f"post to channel {channel}") from e
        return str(message.id)

    async def update(self, channel: str, ref: str, reply: Reply) -> None:
        """Replace a posted alert in place (flapping, recovery)."""
        channel_id = _snowflake(channel, "channel")
        message_id = _snowflake(ref, "message")
        client = self._rest_client()
        partial = client.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await partial.edit(**render(reply, self.ids).edit_kwargs())  # type: ignore[arg-type]
        except (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError) as e:
            raise delivery_error(e, f"update of message {ref}") from e
