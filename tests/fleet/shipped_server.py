"""A nats-server running the shipped config/nats-server.conf (per-host users and subject permissions).

Test modules that check the shipped permissions import ``shipped_nats_server`` from here; as
``nats_server`` it replaces the open fixture of tests/fleet/conftest.py in those modules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.fleet.natsd import NatsServer
from tests.helpers import REPO

CONF = REPO / "config" / "nats-server.conf"


@pytest.fixture(name="nats_server")
def shipped_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """The shipped server config, with its store_dir in tmp_path (the listen address is a flag)."""
    conf = tmp_path / "nats-server.conf"
    conf.write_text(re.sub(r'store_dir: ".*"', f'store_dir: "{tmp_path / "jetstream"}"', CONF.read_text()))
    server = NatsServer(tmp_path / "jetstream", config=conf)
    server.start()
    try:
        yield server
    finally:
        server.stop()
