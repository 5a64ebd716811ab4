"""Issue 7 case 8: a flood of output is bounded on disk, loses no line at rotation, and never slows `status`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.daemon_harness import Daemon, cli, write_config
from tests.faults.logs_programs import DirSampler, log_files, numbered_writer, numbers
from tests.helpers import wait_for

MiB = 1024 * 1024
LINE = 1000 + 11  # numbered_writer's default line length


def _last_number(log_dir: Path, program: str) -> int:
    got = numbers(log_dir / f"{program}.log")
    return got[-1] if got else -1


async def test_a_50_mb_per_second_writer_stays_within_size_times_count_and_no_line_is_lost(make_app, tmp_path):
    total = 100_000  # ~100 MB of numbered lines at 50 MB/s
    log_dir = tmp_path / "state" / "logs"
    prog = {"name": "flood", "command": numbered_writer(rate=50e6, lines=total), "restart": "never",
            "log": {"max_bytes": MiB, "backups": 2}}
    bound = MiB * (2 + 1)
    with DirSampler(log_dir) as sampler:
        await make_app([prog])
        await wait_for(lambda: _last_number(log_dir, "flood") == total - 1, timeout=120)
    assert sampler.samples > 10
    assert sampler.max <= bound + LINE, f"log dir reached {sampler.max} bytes against a bound of {bound}"
    kept = [n for f in log_files(log_dir, "flood") for n in numbers(f)]
    assert kept == list(range(kept[0], total)), "a line is missing or repeated across the rotated files"
    assert len(kept) > 2 * (MiB // LINE) - 2  # the backups are full files of the newest history, not empty


def test_status_through_the_daemon_answers_while_a_program_floods_its_log(tmp_path):
    argv = json.dumps(numbered_writer(rate=50e6))
    cfg = write_config(tmp_path, f'[[program]]\nname = "flood"\ncommand = {argv}\n'
                                 f'log = {{ max_bytes = {MiB}, backups = 1 }}\n')
    d = Daemon(cfg)
    try:
        d.wait_ready(1)
        log = tmp_path / "state" / "logs" / "flood.log"
        for _ in range(5):
            seen = _last_number(log.parent, "flood")
            out = cli(cfg, "status", "--json")
            assert out.returncode == 0, out.stderr
            [prog] = json.loads(out.stdout)["data"]["programs"]
            assert prog["name"] == "flood" and prog["state"] in ("starting", "running")
            wait_for_sync(lambda seen=seen: _last_number(log.parent, "flood") > seen)  # it kept writing meanwhile
    finally:
        assert d.stop() == 0


def wait_for_sync(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)
