"""The generic webhook destination: ``webhook:NAME`` in alert routes POSTs JSON to a ``[[webhook]]``.

It is what Alertmanager users reach PagerDuty, Opsgenie, ntfy or their own
tools with. One :class:`WebhookMessenger` serves every ``[[webhook]]`` table
(the NAME is the destination's channel); the outbox retries and records its
deliveries like any other platform's, so the rules are the outbox's:

* 2xx is delivered. 429 is retried after its ``Retry-After`` (seconds or an
  HTTP date); 408, 5xx, a network error or no answer within ``timeout`` are
  retried with back-off. Any other answer (a 4xx, a redirect, which is not
  followed so a signature never goes to another host) is final and shows in
  ``/proc status``.
* A webhook cannot edit or thread (``can_edit``/``can_thread`` are False): the
  alert policy sends follow-ups as new POSTs. :meth:`update` refuses clearly;
  a ``thread_ref`` given to :meth:`post` is ignored (``data.incident`` links a
  follow-up to its alert).
* The signing secret is only in memory; error texts name the webhook, never
  its URL (which may carry a token) or the secret.
"""

from __future__ import annotations

import email.utils
import logging
import uuid
from collections.abc import Mapping

import aiohttp

from adapters.base import Adapter
from adapters.webhook import payload
from core.clock import Clock
from core.errors import DeliveryError
from core.reply import Reply
from core.spec import WebhookSpec

log = logging.getLogger(__name__)

USER_AGENT = "procbot-webhook/1"
#: statuses worth sending again besides 5xx (429 is handled on its own for Retry-After)
RETRYABLE = frozenset({408, 425})


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class WebhookMessenger(Adapter):
    """Posts alerts and digests to the configured webhooks. Raises ``DeliveryError``."""

    platform = "webhook"
    can_edit = False
    can_thread = False

    def __init__(self, specs: list[WebhookSpec], secrets: Mapping[str, str | None], *, host: str,
                 clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self.specs = {s.name: s for s in specs}
        self._secrets = dict(secrets)
        self.host = host
        self._http: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # the secrets must not show in a traceback's locals either
        return f"WebhookMessenger({', '.join(self.specs)})"

    async def _open(self) -> None:
        self._http = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})

    async def _close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def post(self, channel: str, reply: Reply, thread_ref: str | None = None) -> str:
        """POST ``reply`` to webhook ``channel``; returns ``"<name>:<delivery id>"``."""
        spec = self.specs.get(channel)
        if spec is None:
            raise DeliveryError(f"webhook:{channel}: no [[webhook]] named {channel!r} in this run's config "
                                "(added by a reload? restart procbot)", retryable=False)
        if spec.secret_env and self._secrets.get(channel) is None:
            raise DeliveryError(f"webhook:{channel}: the signing secret is not set ({spec.secret_env})",
                                retryable=False)
        if self._http is None:
            raise DeliveryError(f"webhook:{channel}: not started", retryable=True, retry_after=1.0)
        body = payload.body(reply, host=self.host, webhook=channel)
        delivery = uuid.uuid4().hex
        headers = {**spec.headers, "Content-Type": "application/json", "X-Procbot-Delivery": delivery}
        secret = self._secrets.get(channel)
        if secret:
            stamp = str(int(self.clock.time()))
            headers[payload.TIMESTAMP_HEADER] = stamp
            headers[payload.SIGNATURE_HEADER] = payload.signature(secret, stamp, body)
        try:
            async with self._http.post(spec.url, data=body, headers=headers, allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=spec.timeout)) as resp:
                status = resp.status
                wait = retry_after(resp.headers.get("Retry-After"), self.clock.time())
                text = (await resp.text(errors="replace"))[:200] if status >= 300 else ""
        except (aiohttp.ClientError, OSError) as e:
            raise DeliveryError(f"webhook:{channel}: {type(e).__name__}: {e}", retryable=True) from None
        except TimeoutError:
            raise DeliveryError(f"webhook:{channel}: no answer within {spec.timeout:g}s", retryable=True) from None
        if 200 <= status < 300:
            return f"{channel}:{delivery}"
        said = f"HTTP {status}" + (f" {text.strip()!r}" if text.strip() else "")
        if status == 429:
            raise DeliveryError(f"webhook:{channel}: rate limited ({said})", retryable=True, retry_after=wait)
        if status >= 500 or status in RETRYABLE:
            raise DeliveryError(f"webhook:{channel}: {said}", retryable=True, retry_after=wait)
        if 300 <= status < 400:
            said = f"HTTP {status} redirect (not followed; put the final URL in the config)"
        raise DeliveryError(f"webhook:{channel}: refused: {said}", retryable=False)

    async def update(self, channel: str, ref: str, reply: Reply) -> None:
        """A POST cannot be taken back: refused, so the caller's contract error is visible, not hidden."""
        raise DeliveryError(f"webhook:{channel} cannot edit a message it sent (can_edit is False); "
                            "the alert policy should post a follow-up", retryable=False)

