"""Who may do what: the [permissions] table and its grants."""

from __future__ import annotations

from typing import Literal

from core.spec.base import setting, spec_model


@spec_model
class Grant:
    role: Literal["viewer", "operator", "admin"]
    platform: Literal["slack", "discord", "any"] = "any"
    users: list[str] = setting(factory=list, description="platform user IDs")
    groups: list[str] = setting(factory=list, description="Slack user-group IDs or Discord role IDs")
    programs: list[str] = setting(factory=list, description="globs or group:NAME; empty = all")
    channels: list[str] = setting(factory=list, description="channel IDs; empty = any")
    hosts: list[str] = setting(factory=list, description="globs over fleet host names; empty = every host")

    def _check(self) -> None:
        if not self.users and not self.groups:
            raise ValueError("a grant needs users or groups")


@spec_model
class Permissions:
    default_role: Literal["none", "viewer"] = "none"
    grants: list[Grant] = setting(factory=list)
    confirm_timeout: float = setting(120.0, gt=0)
