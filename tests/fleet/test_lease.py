"""The lease (core/fleet/lease.py) against the real nats-server: one holder, and expiry hands it on."""

from __future__ import annotations

import nats

from core.clock import SystemClock
from core.fleet.lease import Lease
from tests.helpers import wait_for

TTL = 1.0


def bid(holder: str, changes: list[bool] | None = None) -> Lease:
    async def note(held: bool) -> None:
        if changes is not None:
            changes.append(held)

    return Lease("discord-gateway", holder, SystemClock(), ttl=TTL, interval=0.2, on_change=note)


async def test_of_two_bids_for_one_lease_exactly_one_wins_and_the_other_learns_who_holds_it(nats_server):
    nc = await nats.connect(nats_server.url)
    first, second = bid("front-1"), bid("front-2")
    try:
        await first.attach(nc)
        await second.attach(nc)
        await second.tick()

        assert first.held and not second.held
        assert second.held_by == "front-1"
    finally:
        await first.stop()
        await second.stop()
        await nc.close()


async def test_a_lease_whose_holder_is_cut_off_expires_and_the_other_bidder_takes_it(nats_server):
    holder_nc = await nats.connect(nats_server.url)
    other_nc = await nats.connect(nats_server.url)
    holder_changes: list[bool] = []
    other_changes: list[bool] = []
    holder, other = bid("front-1", holder_changes), bid("front-2", other_changes)
    try:
        await holder.attach(holder_nc)
        await other.attach(other_nc)
        assert holder.held and not other.held

        await holder_nc.close()  # the holder loses NATS: nobody renews the key

        await wait_for(lambda: other.held, timeout=TTL + 3)
        await wait_for(lambda: not holder.held, timeout=TTL + 1)
        assert holder_changes == [True, False]
        assert other_changes == [True]
    finally:
        await holder.stop()
        await other.stop()
        await other_nc.close()


async def test_a_holder_that_stops_releases_the_lease_to_the_other_bidder_at_once(nats_server):
    nc = await nats.connect(nats_server.url)
    first, second = bid("front-1"), bid("front-2")
    try:
        await first.attach(nc)
        await second.attach(nc)
        await first.stop()

        await second.tick()

        assert second.held
    finally:
        await second.stop()
        await nc.close()


async def test_a_holder_whose_renewal_reached_the_server_unanswered_keeps_the_lease(nats_server):
    nc = await nats.connect(nats_server.url)
    holder = bid("front-1")
    try:
        await holder.attach(nc)
        kv = await nc.jetstream().key_value("procbot_leases")
        entry = await kv.get("discord-gateway")
        await kv.update("discord-gateway", b"front-1", last=entry.revision)  # its renewal, whose answer was lost

        await holder.tick()

        assert holder.held
    finally:
        await holder.stop()
        await nc.close()
