"""Silences on disk: a new silence on a target replaces the one before it, all or nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.alerts.silences import Silences
from core.errors import RegistryError
from core.store.registry import Registry

# Fails whichever of the two writes of a replacing silence comes second, so the test holds
# whatever their order: ending the old silence fails once the new one exists, and inserting the
# new one fails once the old one was ended at that instant.
SECOND_WRITE_FAILS = (
    "CREATE TRIGGER end_after_insert BEFORE UPDATE OF ended_at ON silences WHEN EXISTS "
    "(SELECT 1 FROM silences WHERE target = OLD.target AND id <> OLD.id AND created_at = NEW.ended_at) "
    "BEGIN SELECT RAISE(ABORT, 'injected: the second write fails'); END",
    "CREATE TRIGGER insert_after_end BEFORE INSERT ON silences WHEN EXISTS "
    "(SELECT 1 FROM silences WHERE target = NEW.target AND ended_at = NEW.created_at) "
    "BEGIN SELECT RAISE(ABORT, 'injected: the second write fails'); END",
)


@dataclass
class StoppedClock:
    at: float

    def time(self) -> float:
        return self.at

    def monotonic(self) -> float:
        return self.at


async def test_a_new_silence_on_a_target_ends_the_one_before_it(tmp_path):
    reg = Registry(tmp_path / "r.db")
    await reg.open()
    clock = StoppedClock(1000.0)
    silences = Silences(reg, clock)
    await silences.add("web", 3600, "slack:alice", "deploy")
    clock.at = 1100.0
    newer = await silences.add("web", 600, "slack:bob", "hotfix")

    reloaded = Silences(reg, clock)
    await reloaded.load()
    assert reloaded.active() == [newer] == silences.active()
    await reg.close()


async def test_a_replacing_silence_that_fails_halfway_leaves_the_old_one_in_force(tmp_path):
    reg = Registry(tmp_path / "r.db")
    await reg.open()
    clock = StoppedClock(1000.0)
    silences = Silences(reg, clock)
    old = await silences.add("web", 3600, "slack:alice", "deploy")
    for trigger in SECOND_WRITE_FAILS:
        await reg.execute(trigger)
    clock.at = 1100.0

    with pytest.raises(RegistryError, match="injected"):
        await silences.add("web", 600, "slack:bob", "hotfix")

    reloaded = Silences(reg, clock)
    await reloaded.load()
    assert reloaded.active() == [old] == silences.active()
    await reg.close()
