"""Which Slack user groups a user belongs to, for grants by user-group ID.

Slack does not put group membership in slash-command payloads, so the
adapter reads the members of each group a grant mentions with
``usergroups.users.list`` and caches them for ``usergroup_cache_ttl``
seconds. Only groups named in grants are read (``groups_of_interest``), and
membership is matched by user ID: a display name never grants anything.

One lookup per group runs at a time (a per-group lock), so a burst of
commands after the cache expires costs one API call per group, not one per
command. If Slack cannot be asked for now (rate limit after retries,
outage), the last known members are used; with nothing cached the lookup
fails and the adapter tells the user instead of silently refusing them. A
group Slack says it cannot read at all (unknown ID, missing scope) is logged
and counts as empty, so grants by user ID keep working.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError

from core.clock import Clock

log = logging.getLogger(__name__)

#: reads one group's member IDs (``usergroups.users.list``)
MemberFetcher = Callable[[str], Awaitable[list[str]]]


class GroupLookupFailed(Exception):
    """Slack could not tell us a group's members and nothing usable is cached."""

    def __init__(self, group_id: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(f"could not read members of user group {group_id}: {reason}")
        self.group_id = group_id
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Entry:
    members: frozenset[str]
    fetched_at: float


class UsergroupCache:
    def __init__(self, fetch: MemberFetcher, ttl: float, clock: Clock) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def invalidate(self) -> None:
        self._entries.clear()

    async def groups_of(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]:
        """The IDs among ``group_ids`` whose members include ``user_id``."""
        ids = sorted(set(group_ids))
        if not ids:
            return frozenset()
        members = await asyncio.gather(*(self.members(g) for g in ids))
        return frozenset(g for g, m in zip(ids, members, strict=True) if user_id in m)

    async def members(self, group_id: str) -> frozenset[str]:
        entry = self._entries.get(group_id)
        if entry is not None and self._fresh(entry):
            return entry.members
        lock = self._locks.setdefault(group_id, asyncio.Lock())
        async with lock:
            entry = self._entries.get(group_id)
            if entry is not None and self._fresh(entry):
                return entry.members  # another command refreshed it while we waited
            try:
                users = await self._fetch(group_id)
            except SlackApiError as e:
                if not _temporary(e):
                    # e.g. no_such_subteam (a Discord role ID in a platform="any" grant) or
                    # missing_scope: the group grants nothing, but user-ID grants keep working.
                    log.error("slack: user group %s cannot be read (%s); treating it as empty",
                              group_id, _api_reason(e))
                    users = []
                else:
                    return self._stale_or_fail(group_id, entry, _api_reason(e), _retry_after(e))
            except (aiohttp.ClientError, TimeoutError) as e:
                return self._stale_or_fail(group_id, entry, f"{type(e).__name__}: {e}", None)
            fresh = _Entry(frozenset(users), self._clock.monotonic())
            self._entries[group_id] = fresh
            return fresh.members

    def _fresh(self, entry: _Entry) -> bool:
        return self._clock.monotonic() - entry.fetched_at < self._ttl

    def _stale_or_fail(
        self, group_id: str, entry: _Entry | None, reason: str, retry_after: float | None
    ) -> frozenset[str]:
        if entry is not None:
            log.warning("slack: using cached members of %s: refresh failed (%s)", group_id, reason)
            return entry.members
        log.warning("slack: cannot read members of %s (%s)", group_id, reason)
        raise GroupLookupFailed(group_id, reason, retry_after)


TEMPORARY_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})


def _temporary(e: SlackApiError) -> bool:
    status = int(getattr(e.response, "status_code", 200) or 200)
    return status == 429 or status >= 500 or _api_reason(e) in TEMPORARY_ERRORS


def _api_reason(e: SlackApiError) -> str:
    err = e.response.get("error") if isinstance(e.response.data, dict) else None
    return str(err or f"HTTP {e.response.status_code}")


def _retry_after(e: SlackApiError) -> float | None:
    value = e.response.headers.get("Retry-After") or e.response.headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
