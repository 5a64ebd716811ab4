"""Fixtures the alert tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.store.registry import Registry


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    """A real registry file in tmp_path, open for the test."""
    reg = Registry(tmp_path / "procbot.db")
    await reg.open()
    yield reg
    await reg.close()
