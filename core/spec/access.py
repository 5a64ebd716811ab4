"""Who may do what: the [permissions] table and its grants."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.spec.base import Strict


class Grant(Strict):
    role: Literal["viewer", "operator", "admin"]
    platform: Literal["slack", "discord", "any"] = "any"
    users: list[str] = Field(default_factory=list, description="platform user IDs")
    groups: list[str] = Field(default_factory=list, description="Slack user-group IDs or Discord role IDs")
    programs: list[str] = Field(default_factory=list, description="globs or group:NAME; empty = all")
    channels: list[str] = Field(default_factory=list, description="channel IDs; empty = any")
    hosts: list[str] = Field(default_factory=list, description="globs over fleet host names; empty = every host")

    @model_validator(mode="after")
    def _someone(self) -> Grant:
        if not self.users and not self.groups:
            raise ValueError("a grant needs users or groups")
        return self


class Permissions(Strict):
    default_role: Literal["none", "viewer"] = "none"
    grants: list[Grant] = Field(default_factory=list)
    confirm_timeout: float = Field(120.0, gt=0)
