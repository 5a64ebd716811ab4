"""User-group membership cache: TTL on the injected clock, one lookup per group, stale on failure."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from adapters.slack.usergroups import GroupLookupFailed, UsergroupCache
from tests.conftest import sleeper
from tests.fakes.slack_harness import slack_procbot


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class Members:
    """Stands in for usergroups.users.list; counts calls and can fail."""

    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.groups = groups
        self.calls: list[str] = []
        self.error: Exception | None = None

    async def __call__(self, group_id: str) -> list[str]:
        self.calls.append(group_id)
        await asyncio.sleep(0.01)
        if self.error is not None:
            raise self.error
        return self.groups[group_id]


def api_error(code: str) -> SlackApiError:
    class Resp:
        data = {"ok": False, "error": code}
        status_code = 429 if code == "ratelimited" else 200
        headers = {"Retry-After": "7"}

        def get(self, key: str) -> Any:
            return self.data.get(key)

    return SlackApiError(code, Resp())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_only_groups_containing_the_user_are_returned(clock: FakeClock) -> None:
    cache = UsergroupCache(Members({"S1": ["U1", "U2"], "S2": ["U3"]}), ttl=60, clock=clock)
    assert await cache.groups_of("U1", {"S1", "S2"}) == {"S1"}
    assert await cache.groups_of("U9", {"S1", "S2"}) == frozenset()


async def test_members_are_cached_until_the_ttl_passes(clock: FakeClock) -> None:
    fetch = Members({"S1": ["U1"]})
    cache = UsergroupCache(fetch, ttl=60, clock=clock)
    await cache.groups_of("U1", {"S1"})
    clock.now += 59
    await cache.groups_of("U1", {"S1"})
    assert fetch.calls == ["S1"]
    fetch.groups["S1"] = []
    clock.now += 2
    assert await cache.groups_of("U1", {"S1"}) == frozenset()
    assert fetch.calls == ["S1", "S1"]


async def test_a_burst_of_commands_reads_each_group_once(clock: FakeClock) -> None:
    fetch = Members({"S1": ["U1"], "S2": ["U1"]})
    cache = UsergroupCache(fetch, ttl=60, clock=clock)
    results = await asyncio.gather(*(cache.groups_of("U1", {"S1", "S2"}) for _ in range(50)))
    assert all(r == {"S1", "S2"} for r in results)
    assert sorted(fetch.calls) == ["S1", "S2"]


async def test_last_known_members_are_used_when_a_refresh_fails(clock: FakeClock) -> None:
    fetch = Members({"S1": ["U1"]})
    cache = UsergroupCache(fetch, ttl=60, clock=clock)
    await cache.groups_of("U1", {"S1"})
    clock.now += 120
    fetch.error = api_error("ratelimited")
    assert await cache.groups_of("U1", {"S1"}) == {"S1"}


async def test_a_failed_first_lookup_raises_with_the_reason_and_retry_after(clock: FakeClock) -> None:
    fetch = Members({"S1": ["U1"]})
    fetch.error = api_error("ratelimited")
    cache = UsergroupCache(fetch, ttl=60, clock=clock)
    with pytest.raises(GroupLookupFailed) as err:
        await cache.groups_of("U1", {"S1"})
    assert err.value.reason == "ratelimited" and err.value.retry_after == 7.0


async def test_a_group_slack_cannot_read_counts_as_empty(clock: FakeClock) -> None:
    fetch = Members({})
    fetch.error = api_error("no_such_subteam")
    cache = UsergroupCache(fetch, ttl=60, clock=clock)
    assert await cache.groups_of("U1", {"S404"}) == frozenset()


async def test_group_members_are_read_once_across_commands(make_app: Any) -> None:
    perms = {"default_role": "none", "grants": [{"role": "viewer", "platform": "slack", "groups": ["S0OPS"]}]}
    async with slack_procbot(make_app, programs=[{"name": "web", "command": sleeper("web")}],
                             permissions=perms) as h:
        h.fake.usergroups["S0OPS"] = ["U0MEMBER"]
        for _ in range(3):
            body = await h.command("status", user="U0MEMBER")
            assert "Status on" in body["text"]
        assert len(h.fake.calls_to("usergroups.users.list")) == 1


async def test_a_rate_limited_group_lookup_is_retried_by_the_client(make_app: Any) -> None:
    perms = {"default_role": "none", "grants": [{"role": "viewer", "platform": "slack", "groups": ["S0OPS"]}]}
    async with slack_procbot(make_app, programs=[{"name": "web", "command": sleeper("web")}],
                             permissions=perms) as h:
        h.fake.usergroups["S0OPS"] = ["U0MEMBER"]
        h.fake.fail("usergroups.users.list", status=429, retry_after=0, times=1)
        body = await h.command("status", user="U0MEMBER")
        assert "Status on" in body["text"]
        assert len(h.fake.calls_to("usergroups.users.list")) == 2
