"""The JetStream stream that carries every host's events (created by whoever gets there first)."""

from __future__ import annotations

import logging

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from core.fleet.subjects import EVT_PREFIX, EVT_STREAM

log = logging.getLogger(__name__)

#: how long JetStream remembers a Nats-Msg-Id: a host that republishes within it is answered "duplicate"
DUPLICATE_WINDOW = 120.0


async def ensure_stream(js: JetStreamContext, max_age: float) -> bool:
    """Create ``PROCBOT_EVT`` if missing (file storage, bounded by age); False if not allowed to."""
    config = StreamConfig(name=EVT_STREAM, subjects=[f"{EVT_PREFIX}.>"], storage=StorageType.FILE,
                          retention=RetentionPolicy.LIMITS, max_age=max_age, duplicate_window=DUPLICATE_WINDOW)
    try:
        await js.stream_info(EVT_STREAM)
        return True
    except nats.js.errors.NotFoundError:
        pass
    except nats.errors.Error as e:
        log.warning("cannot look up stream %s: %s", EVT_STREAM, e)
        return False
    try:
        await js.add_stream(config)
    except nats.errors.Error as e:  # another member created it meanwhile, or this identity may not
        log.info("stream %s not created here: %s", EVT_STREAM, e)
    return True
