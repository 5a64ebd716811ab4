"""The JetStream stream that carries every host's events, and the KV buckets (created by whoever gets there first)."""

from __future__ import annotations

import logging

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

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


async def kv_bucket(nc: Client, name: str, ttl: float) -> KeyValue:
    """A KV bucket, created on first use: file storage, one value per key, each expiring after ``ttl``."""
    js = nc.jetstream()
    try:
        return await js.key_value(name)
    except BucketNotFoundError:
        return await js.create_key_value(KeyValueConfig(bucket=name, history=1, ttl=ttl, storage=StorageType.FILE))
