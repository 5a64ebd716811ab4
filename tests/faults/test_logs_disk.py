"""Issue 7 cases 8 and 9: a full log disk frees space and recovers; symlinks in the log dir are never followed."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.actor import Actor, CommandContext
from tests.faults.logs_programs import log_files, numbered_writer, numbers
from tests.helpers import wait_for

CLI = CommandContext(Actor("cli", "tester", local=True))
KiB = 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a real file system that fills up."""
    mnt = tmp_path / "logs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


class Filler:
    """Another writer on the same disk that takes every byte freed, until stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Filler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.path.unlink()

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            block = b"\0" * (4 * KiB)
            while not self._stop.is_set():
                try:
                    os.write(fd, block)
                except OSError:
                    time.sleep(0.001)
        finally:
            os.close(fd)


def _last(log_dir: Path, program: str) -> int:
    got = numbers(log_dir / f"{program}.log")
    return got[-1] if got else -1


async def _counter_reaches(app, name: str, timeout: float = 30.0) -> int:  # type: ignore[no-untyped-def]
    """Poll the log daemon's counter ``name`` for ``noisy`` until it is above zero; returns it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await app.logs.stats("noisy")
        if got and got[name] > 0:
            return int(got[name])
        assert asyncio.get_running_loop().time() < deadline, f"{name} stayed at 0: {got}"
        await asyncio.sleep(0.05)


async def test_a_full_log_disk_deletes_oldest_backups_then_counts_what_it_drops_and_recovers(make_app, small_disk):
    # 20 backups of 512 KiB would need 10.5 MiB: the 4 MiB disk fills long before
    prog = {"name": "noisy", "command": numbered_writer(rate=4e6), "log": {"max_bytes": 512 * KiB, "backups": 20}}
    app = await make_app([prog], procbot={"log_dir": str(small_disk)})
    await _counter_reaches(app, "backups_deleted")  # the disk filled: the daemon made room
    assert not (small_disk / "noisy.log.20").exists()
    moving = _last(small_disk, "noisy")
    await wait_for(lambda: _last(small_disk, "noisy") > moving + 100)  # logging goes on

    with Filler(small_disk / "filler.bin"):  # takes every byte the daemon frees: now it must drop, and count
        await _counter_reaches(app, "dropped_lines")
        info = await app.dispatcher.handle("info noisy", CLI)
        assert "lost" in next(f.value for f in info.fields if f.name == "Log")
        status = await app.dispatcher.handle("status", CLI)
        assert "noisy lost" in status.text
    # space is back: logging resumes, with a line saying what was lost
    await wait_for(lambda: any(b"[procbot-logd]" in _read(p) for p in log_files(small_disk, "noisy")), timeout=30)
    resumed = _last(small_disk, "noisy")
    await wait_for(lambda: _last(small_disk, "noisy") > resumed + 100)
    assert app.supervisor.state("noisy").state.value == "running"


def _read(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except FileNotFoundError:
        return b""


async def test_a_symlink_planted_at_the_log_and_its_backup_never_writes_truncates_or_renames_the_target(
        make_app, tmp_path):
    log_dir = tmp_path / "state" / "logs"
    log_dir.mkdir(parents=True)
    outside = {name: tmp_path / f"outside-{name}" for name in ("live", "backup")}
    for p in outside.values():
        p.write_text("precious\n")
    before = {k: os.stat(p) for k, p in outside.items()}
    (log_dir / "victim.log").symlink_to(outside["live"])
    (log_dir / "victim.log.1").symlink_to(outside["backup"])
    total = 2000
    prog = {"name": "victim", "command": numbered_writer(rate=1e6, lines=total, width=100), "restart": "never",
            "log": {"max_bytes": 4 * KiB, "backups": 2}}
    app = await make_app([prog], procbot={"tree_scan_every": 1})
    await wait_for(lambda: _last(log_dir, "victim") == total - 1, timeout=60)
    await app.scanner.scan()  # the old design rotated (and copied through the link) at scans
    for name, p in outside.items():
        assert p.read_text() == "precious\n", f"the {name} target outside the log dir was written"
        assert (os.stat(p).st_ino, os.stat(p).st_mtime_ns) == (before[name].st_ino, before[name].st_mtime_ns)
    for p in log_files(log_dir, "victim"):
        assert not p.is_symlink()
    seq = [n for f in log_files(log_dir, "victim") for n in numbers(f)]
    assert seq == list(range(seq[0], total))


def test_full_disk_errors_are_the_ones_the_daemon_treats_as_full():
    from core.logd.files import FULL_DISK

    assert errno.ENOSPC in FULL_DISK


async def test_an_immutable_log_dir_drops_and_counts_lines_within_the_bound_then_recovers(make_app, tmp_path):
    log_dir = tmp_path / "state" / "logs"
    prog = {"name": "noisy", "command": numbered_writer(rate=2e6), "log": {"max_bytes": 64 * KiB, "backups": 1}}
    app = await make_app([prog])
    await _counter_reaches(app, "rotations")
    if subprocess.run(["chattr", "+i", str(log_dir)], capture_output=True).returncode:
        pytest.skip("chattr +i does not work here")
    try:
        await _counter_reaches(app, "dropped_lines")  # the next rotation cannot rename: lines are dropped
        assert all(p.stat().st_size <= 64 * KiB for p in log_files(log_dir, "noisy"))  # not written past the bound
        rotations = (await app.logs.stats("noisy") or {})["rotations"]
    finally:
        subprocess.run(["chattr", "-i", str(log_dir)], check=True)
    await wait_for(lambda: any(b"[procbot-logd]" in _read(p) for p in log_files(log_dir, "noisy")), timeout=30)

    async def rotating_again() -> bool:
        got = await app.logs.stats("noisy")
        return bool(got and got["rotations"] > rotations)

    deadline = asyncio.get_running_loop().time() + 30
    while not await rotating_again():
        assert asyncio.get_running_loop().time() < deadline, "rotation did not resume"
        await asyncio.sleep(0.05)
