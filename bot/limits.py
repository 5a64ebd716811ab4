"""The daemon's own resource limits.

procbot holds one pidfd per program (plus log pipes and control-socket
clients), so the default soft RLIMIT_NOFILE of 1024 caps it near 1,000
programs. The hard limit is what the administrator allows (systemd's
``LimitNOFILE``); raising the soft limit up to it needs no privilege.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the (soft, hard) limits now in force.

    Programs inherit the raised soft limit (as under supervisord, whose ``minfds`` does the same).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft >= hard:
        return soft, hard
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as e:  # e.g. a hard limit of infinity above the kernel's nr_open
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, e)
        return soft, hard
    log.info("open-file limit raised from %d to %d", soft, target)
    return target, hard
