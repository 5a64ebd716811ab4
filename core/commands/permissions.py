"""Who may do what: roles, grants, and default deny for state changes.

The role each verb needs and whether it acts on programs are the catalog's
(:mod:`core.commands.catalog`). Grants map platform user IDs and group/role IDs (never display names) to a
role, optionally scoped to programs, channels and fleet hosts. A program-scoped grant
only counts for the programs it names; a host-scoped grant (``hosts = ["db-*"]``) only
on the hosts it names.

In a fleet the front decides: :meth:`Permissions.decide_hosts` turns the front's grants
into one :class:`~core.actor.Decision` per target host (refusing the whole command when the
actor may not act on every host it targets), and the host applies that decision in place
of its own grants (:meth:`Permissions.role` reads ``actor.decided`` first).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping

from core.actor import Actor, Decision
from core.commands.catalog import BY_NAME, ROLES
from core.errors import HostsRefused, Unauthorized
from core.spec import Grant
from core.spec import Permissions as PermissionSettings
from core.spec.instances import name_matches

RANK = {role: rank for rank, role in enumerate(ROLES)}


def _covers(patterns: Iterable[str], program: str, group: str | None) -> bool:
    """Whether program patterns (globs or ``group:NAME``; none = every program) cover ``program``."""
    patterns = list(patterns)
    if not patterns:
        return True
    for pat in patterns:
        if pat.startswith("group:"):
            if group is not None and pat[6:] == group:
                return True
        elif name_matches(pat, program):  # a grant on `web` covers its instances, web:0 ...
            return True
    return False


def _on_host(grant: Grant, host: str | None) -> bool:
    """Whether a grant holds on ``host`` (a host-scoped grant never holds where the host is unknown)."""
    if not grant.hosts:
        return True
    return host is not None and any(fnmatch.fnmatchcase(host, pat) for pat in grant.hosts)


def _names(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(f"`{p}`" for p in items[:5]) + (" ..." if len(items) > 5 else "")


class Permissions:
    def __init__(self, settings: PermissionSettings, host: str | None = None) -> None:
        self.settings = settings
        #: this host's name: the host a command runs on when no other is named (host-scoped grants)
        self.host = host

    def _grants(self, actor: Actor, channel: str | None, host: str | None = None) -> list[Grant]:
        host = host or self.host
        out = []
        for g in self.settings.grants:
            if g.platform not in ("any", actor.platform):
                continue
            if g.channels and channel not in g.channels:
                continue
            if not _on_host(g, host):
                continue
            if actor.user_id in g.users or actor.groups.intersection(g.groups):
                out.append(g)
        return out

    def role(self, actor: Actor, channel: str | None, program: str | None = None, group: str | None = None,
             host: str | None = None) -> str:
        """The highest role the actor holds on ``host`` (default: this one), for ``program`` when given,
        else unscoped grants only. A front's decision carried by the actor replaces the grants."""
        decided = actor.decided
        if decided is not None:
            best = decided.role if decided.role in RANK else "none"
            if program is not None:
                for role, patterns in decided.scoped:
                    if role in RANK and RANK[role] > RANK[best] and _covers(patterns, program, group):
                        best = role
            return best
        if actor.local:
            return "admin"
        best = self.settings.default_role
        for g in self._grants(actor, channel, host):
            if program is None:
                if g.programs:
                    continue
            elif not _covers(g.programs, program, group):
                continue
            if RANK[g.role] > RANK[best]:
                best = g.role
        return best

    # -- the front's decision ------------------------------------------------
    def decide(self, actor: Actor, channel: str | None, host: str) -> Decision:
        """What the actor holds on ``host``: the role everywhere there, and higher program-scoped roles."""
        base = self.role(actor, channel, host=host)
        if actor.local or actor.decided is not None:
            return Decision(base, actor.decided.scoped if actor.decided is not None else ())
        scoped = tuple((g.role, tuple(g.programs)) for g in self._grants(actor, channel, host)
                       if g.programs and RANK[g.role] > RANK[base])
        return Decision(base, scoped)

    def decide_hosts(self, actor: Actor, channel: str | None, verb: str, hosts: Iterable[str]) -> dict[str, Decision]:
        """One decision per target host; HostsRefused naming the hosts where ``verb`` is not allowed at all.

        A command over several hosts is refused whole, like a mass action over programs the
        actor may not act on every one of: nothing runs anywhere. A program-scoped grant
        allows the host here; the host then checks its programs against the decision.
        """
        spec = BY_NAME[verb]
        need = RANK[spec.role]
        out: dict[str, Decision] = {}
        denied = []
        for host in hosts:
            d = self.decide(actor, channel, host)
            held = max([RANK[d.role], *(RANK[r] for r, _ in d.scoped)] if spec.program_scoped else [RANK[d.role]])
            if held < need:
                denied.append(host)
            out[host] = d
        if denied:
            raise HostsRefused(f"You need the {spec.role} role to `{verb}` on {_names(denied)}. Ask an admin "
                               "for a grant on those hosts, or name the hosts you may act on (`@host`).", denied)
        return out

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
                raise Unauthorized(f"You need the {need} role to `{verb}` {_names(denied)}. Ask an admin for a grant.")
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
