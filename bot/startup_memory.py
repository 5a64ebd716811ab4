"""Give back what start-up alone needed, once the daemon is up.

Loading and validating the config, opening the registry and spawning every
program leave garbage behind (parsed TOML, validation intermediates, import
temporaries). Collected once and frozen, the long-lived objects no longer
cost the cyclic collector a walk on each later collection (fewer pages
touched while idle), and ``malloc_trim`` hands freed heap pages back to the
kernel instead of keeping them resident for an idle daemon.
"""

from __future__ import annotations

import ctypes
import gc
import logging

log = logging.getLogger(__name__)


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
