"""The [cluster] table: how this host joins a fleet over NATS."""

from __future__ import annotations

import re
from typing import Literal

from core.spec.base import checked_path, setting, spec_model

#: a fleet host name is one NATS subject token: no dots (separators), wildcards (* >) or spaces
HOST_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


def _checked_url(v: str) -> str:
    for u in v.split(","):
        if not re.match(r"^(nats|tls|ws|wss)://[^\s/]+$", u.strip()):
            raise ValueError(f"{u.strip()!r} is not a NATS server URL (nats://HOST:PORT or tls://HOST:PORT)")
    return v


@spec_model
class ClusterTLS:
    ca_file: str | None = setting(None, check=checked_path)
    cert_file: str | None = setting(None, check=checked_path)
    key_file: str | None = setting(None, check=checked_path)

    def _check(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file (a client certificate), or neither")


@spec_model
class ClusterSettings:
    """``[cluster]``: join a fleet through a NATS server. Secrets are named here, never written here."""

    url: str = setting("nats://127.0.0.1:4222", check=_checked_url,
                       description="nats:// or tls:// URL; several: comma-separated")
    host: str | None = setting(None, pattern=HOST_PATTERN, description="this host's name in the fleet; "
                               "default: procbot.host_name, else the hostname")
    user: str | None = None
    password_env: str | None = None
    password_file: str | None = setting(None, check=checked_path)
    token_env: str | None = None
    token_file: str | None = setting(None, check=checked_path)
    nkey_seed_file: str | None = setting(None, check=checked_path)
    creds_file: str | None = setting(None, check=checked_path, description="a .creds file (JWT + NKey seed)")
    tls: ClusterTLS | None = None
    role: Literal["auto", "host", "front"] = setting("auto", description="front = serve chat for the whole fleet; "
                                                   "auto: a front when this config has chat credentials")
    request_timeout: float = setting(5.0, gt=0, le=300, description="seconds a remote command may take")
    heartbeat_interval: float = setting(5.0, gt=0, le=3600)
    heartbeat_ttl: float = setting(15.0, gt=0, le=86400, description="a host silent this long is an incident")
    stream_max_age: float = setting(7 * 86400.0, ge=60, description="seconds JetStream keeps a host's events")

    def _check(self) -> None:
        ways = {
            "user": self.user is not None or self.password_env is not None or self.password_file is not None,
            "token": self.token_env is not None or self.token_file is not None,
            "nkey_seed_file": self.nkey_seed_file is not None,
            "creds_file": self.creds_file is not None,
        }
        chosen = [k for k, on in ways.items() if on]
        if len(chosen) > 1:
            raise ValueError(f"give one way to authenticate, not {' and '.join(chosen)}")
        if ways["user"] and (self.user is None or (self.password_env is None) == (self.password_file is None)):
            raise ValueError("user needs exactly one of password_env or password_file")
        if self.token_env is not None and self.token_file is not None:
            raise ValueError("give token_env or token_file, not both")
        if self.heartbeat_ttl <= self.heartbeat_interval:
            raise ValueError("heartbeat_ttl must be longer than heartbeat_interval")
