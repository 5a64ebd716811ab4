"""Keep out what the daemon will never use, and give back what start-up alone needed.

Before anything is imported (``keep_out_tls``): a daemon whose config talks
to no network service (no chat platform, every alert and digest to the
console) never loads OpenSSL. asyncio imports ``ssl`` eagerly, and ``ssl``
with ``libssl``/``libcrypto`` is ~5 MiB of an idle daemon's resident memory
and ~40 ms of every start; supervisord loads neither. Hashing then uses
Python's built-in sha256/blake2 instead of OpenSSL's.

Once the daemon is up (``release_startup_memory``): loading and validating the
config, opening the registry and spawning every program leave garbage behind
(parsed TOML, validation intermediates, import temporaries). Collected once
and frozen, the long-lived objects no longer cost the cyclic collector a walk
on each later collection (fewer pages touched while idle), and
``malloc_trim`` hands freed heap pages back to the kernel instead of keeping
them resident for an idle daemon.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys
import tomllib
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: top-level config tables that never make procbot open a network connection; any other table
#: (slack, discord, a webhook, a cluster, a table added later) keeps TLS available
OFFLINE_TABLES = frozenset({"procbot", "program", "watch", "permissions", "alerts", "digest"})
#: modules that load OpenSSL; with them absent, asyncio runs without TLS and hashlib uses its built-ins
TLS_MODULES = ("ssl", "_ssl", "_hashlib")


def needs_tls(data: dict[str, Any]) -> bool:
    """Could a daemon with this config (the parsed TOML) ever open a TLS connection?"""
    if not set(data) <= OFFLINE_TABLES:
        return True
    alerts = data.get("alerts")
    routes = alerts.get("route", []) if isinstance(alerts, dict) else []
    digests = data.get("digest", [])
    for entry in [*(routes if isinstance(routes, list) else [routes]),
                  *(digests if isinstance(digests, list) else [digests])]:
        to = entry.get("to", []) if isinstance(entry, dict) else None
        if not isinstance(to, list) or any(d != "console" for d in to):
            return True
    programs = data.get("program")
    return isinstance(programs, list) and any(_https_health(p) for p in programs)


def _https_health(program: object) -> bool:
    """A health check over https (core.health) needs TLS; over http, tcp or a command it does not."""
    health = program.get("health") if isinstance(program, dict) else None
    http = health.get("http") if isinstance(health, dict) else None
    return isinstance(http, str) and http.lower().startswith("https:")


def keep_out_tls(config_path: Path) -> bool:
    """Before asyncio is imported: leave OpenSSL out of a daemon that will never use it.

    True if it is left out. Anything unsure (the file unreadable or not TOML, asyncio already
    imported) keeps TLS: the config check reports the file's problems, this only saves memory.
    """
    if any(m in sys.modules for m in ("asyncio", *TLS_MODULES)):
        return False
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if needs_tls(data):
        return False
    for m in TLS_MODULES:
        sys.modules[m] = None  # type: ignore[assignment]  # `import ssl` raises ImportError from now on
    return True


def release_startup_memory() -> None:
    gc.collect()
    gc.freeze()
    _malloc_trim()


def _malloc_trim() -> None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: libc's, no ldconfig lookup
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim): nothing to give back this way
        return
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
