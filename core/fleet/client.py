"""Front side of commands: one request to ``procbot.cmd.<host>``, always a prompt answer.

Three ways a remote command fails, each a clear error rather than a hung
slash command: the link is down (:class:`FleetUnavailable`), nobody serves the
host (NATS answers "no responders" at once: :class:`HostOffline`, with when
the host was last seen), or the host took it and did not answer in time
(:class:`HostTimeout`).
"""

from __future__ import annotations

import nats.errors
from nats.errors import NoRespondersError

from core.actor import CommandContext
from core.errors import FleetUnavailable, HostOffline, HostTimeout, InvalidInput
from core.fleet.codec import CommandRequest, decode_reply, encode_request
from core.fleet.link import FleetLink
from core.fleet.liveness import Liveness
from core.fleet.subjects import cmd_subject
from core.formatting import ago
from core.reply import Reply


class FleetClient:
    def __init__(self, link: FleetLink, liveness: Liveness, *, timeout: float) -> None:
        self.link = link
        self.liveness = liveness
        self.timeout = timeout

    async def send(self, host: str, text: str, ctx: CommandContext, *, kind: str = "handle") -> Reply:
        """The host's Reply; raises FleetUnavailable, HostOffline or HostTimeout."""
        nc = self.link.nc
        if nc is None or not self.link.up:
            raise FleetUnavailable(f"Cannot reach {host}: the fleet link is down "
                                   f"({self.link.status_note() or 'not connected'}).")
        payload = encode_request(CommandRequest(text=text, ctx=ctx, kind=kind))
        try:
            msg = await nc.request(cmd_subject(host), payload, timeout=self.timeout)
        except NoRespondersError:
            raise HostOffline(self.offline_text(host)) from None
        except nats.errors.TimeoutError:
            raise HostTimeout(f"{host} did not answer within {self.timeout:g}s.") from None
        except nats.errors.Error as e:
            raise FleetUnavailable(f"Cannot reach {host}: {e}") from None
        try:
            return decode_reply(msg.data)
        except (InvalidInput, KeyError, TypeError, ValueError) as e:
            raise HostTimeout(f"{host} answered something procbot cannot read: {e}") from None

    def offline_text(self, host: str) -> str:
        view = self.liveness.get(host)
        if view is None:
            known = ", ".join(self.liveness.names()) or "none yet"
            return f"{host} is offline or unknown: it never sent a heartbeat (known hosts: {known})."
        return f"{host} is offline (last seen {ago(self.link.clock.time() - view.seen_at)})."
