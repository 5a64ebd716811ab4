"""What a health check points at, parsed once: the URL or ``host:port`` of its table, and whether it is local.

Standard library only: the config models (``core.spec.programs``) check the syntax with these
functions, the probes connect with what they return, and ``check-config`` refuses a target off
this host unless the table says ``allow_remote = true``. A health check is procbot connecting
somewhere on its own, every few seconds, as root: by default only to this host, so a typo or a
pasted production URL cannot turn it into a probe of someone else's service.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

#: the name that always means this host (RFC 6761); any other name would need DNS to say where it is
LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class HttpTarget:
    host: str
    port: int
    #: what an alert shows: the path only, never the query (it may hold a token) or credentials
    path: str


def http_target(url: str) -> HttpTarget:
    """The parts of an ``http://`` or ``https://`` URL; ValueError in words when it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{url!r} is not a valid URL: {e}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r}: the URL must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"{url!r}: the URL names no host")
    default = 443 if parts.scheme == "https" else 80
    return HttpTarget(parts.hostname, port or default, parts.path or "/")


def host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:5432"`` or ``"[::1]:5432"`` -> (host, port); ValueError in words otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{text!r} must be host:port, like \"127.0.0.1:5432\"")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, like \"[::1]:5432\"")
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"{text!r}: the port must be 1 to 65535")
    return host, number


def is_loopback(host: str) -> bool:
    """This host, without asking DNS: ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Health(Protocol):
    http: str | None
    tcp: str | None
    allow_remote: bool


class _Program(Protocol):
    name: str

    @property
    def health(self) -> _Health | None: ...


def remote_problems(programs: Iterable[_Program]) -> list[tuple[str, str]]:
    """(key, problem) for each health target off this host that its table does not allow."""
    from core.spec.instances import PLACEHOLDER  # here: core.spec imports this module for its rules

    out: list[tuple[str, str]] = []
    for p in programs:
        h = p.health
        if h is None or h.allow_remote:
            continue
        # as configured, before instances are expanded: judged as instance 0's ("127.0.0.1:900{instance}")
        if h.http is not None and not is_loopback(host := http_target(h.http.replace(PLACEHOLDER, "0")).host):
            out.append((f"program[{p.name}].health.http", _remote(host)))
        if h.tcp is not None and not is_loopback(host := host_port(h.tcp.replace(PLACEHOLDER, "0"))[0]):
            out.append((f"program[{p.name}].health.tcp", _remote(host)))
    return out


def _remote(host: str) -> str:
    return (f"{host} is not this host: a health check connects to a loopback address or localhost unless "
            "the health table says allow_remote = true")


class _Check(Protocol):
    http: str | None
    tcp: str | None
    command: list[str] | None
    interval: float
    timeout: float
    failures: int


def describe(check: _Check) -> str:
    """A health table in words, for ``info``: never a URL's query or credentials."""
    if check.http is not None:
        t = http_target(check.http)
        what = f"GET {t.path} on {t.host}:{t.port}"
    elif check.tcp is not None:
        what = f"tcp {check.tcp}"
    else:
        assert check.command is not None
        what = f"command {check.command[0].rsplit('/', 1)[-1]}"
    return (f"{what} every {check.interval:g}s (timeout {check.timeout:g}s; unhealthy after "
            f"{check.failures} failures in a row)")
