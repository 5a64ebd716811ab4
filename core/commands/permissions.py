"""Who may do what: roles, grants, and default deny for state changes.

The role each verb needs and whether it acts on programs are the catalog's
(:mod:`core.commands.catalog`). Grants map platform user IDs and group/role IDs (never display names) to a
role, optionally scoped to programs and channels. A program-scoped grant
only counts for the programs it names.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping

from core.actor import Actor
from core.commands.catalog import BY_NAME, ROLES
from core.errors import Unauthorized
from core.spec import Grant
from core.spec import Permissions as PermissionSettings

RANK = {role: rank for rank, role in enumerate(ROLES)}


def _covers(grant: Grant, program: str, group: str | None) -> bool:
    if not grant.programs:
        return True
    for pat in grant.programs:
        if pat.startswith("group:"):
            if group is not None and pat[6:] == group:
                return True
        elif fnmatch.fnmatchcase(program, pat):
            return True
    return False


class Permissions:
    def __init__(self, settings: PermissionSettings) -> None:
        self.settings = settings

    def _grants(self, actor: Actor, channel: str | None) -> list[Grant]:
        out = []
        for g in self.settings.grants:
            if g.platform not in ("any", actor.platform):
                continue
            if g.channels and channel not in g.channels:
                continue
            if actor.user_id in g.users or actor.groups.intersection(g.groups):
                out.append(g)
        return out

    def role(self, actor: Actor, channel: str | None, program: str | None = None, group: str | None = None) -> str:
        """The highest role the actor holds here (for ``program`` when given, else unscoped grants only)."""
        if actor.local:
            return "admin"
        best = self.settings.default_role
        for g in self._grants(actor, channel):
            if program is None:
                if g.programs:
                    continue
            elif not _covers(g, program, group):
                continue
            if RANK[g.role] > RANK[best]:
                best = g.role
        return best

    def may(self, actor: Actor, channel: str | None, verb: str, program: str | None = None,
            group: str | None = None) -> bool:
        return RANK[self.role(actor, channel, program, group)] >= RANK[BY_NAME[verb].role]

    def check(self, actor: Actor, channel: str | None, verb: str, programs: Mapping[str, str | None]) -> None:
        """Raise Unauthorized unless the actor may run ``verb`` on every program (name -> group)."""
        spec = BY_NAME[verb]
        need = spec.role
        if spec.program_scoped and programs:
            denied = [p for p, grp in programs.items() if not self.may(actor, channel, verb, p, grp)]
            if denied:
                shown = ", ".join(f"`{p}`" for p in denied[:5]) + (" ..." if len(denied) > 5 else "")
                raise Unauthorized(f"You need the {need} role to `{verb}` {shown}. Ask an admin for a grant.")
            return
        if not self.may(actor, channel, verb):
            raise Unauthorized(f"You need the {need} role to use `{verb}`. Ask an admin for a grant.")

    def visible(self, actor: Actor, channel: str | None, verb: str, programs: Mapping[str, str | None]) -> list[str]:
        return [p for p, grp in programs.items() if self.may(actor, channel, verb, p, grp)]

    def groups_of_interest(self, platform: str) -> set[str]:
        return {gid for g in self.settings.grants if g.platform in ("any", platform) for gid in g.groups}

    def describe(self, actor: Actor, channel: str | None, programs: Iterable[tuple[str, str | None]]) -> str:
        base = self.role(actor, channel)
        scoped = {}
        for p, grp in programs:
            r = self.role(actor, channel, p, grp)
            if RANK[r] > RANK[base]:
                scoped.setdefault(r, []).append(p)
        parts = [f"{base} everywhere" if base != "none" else "no role by default"]
        for r, progs in scoped.items():
            parts.append(f"{r} on {', '.join(progs[:10])}")
        return "; ".join(parts)
