"""The batch scanner: metrics of the whole process tree, shared scans, batched samples."""

from __future__ import annotations

import asyncio
import sys

from core.process.logs import log_path
from tests.helpers import wait_for, wait_until_true

PY = sys.executable

TREE = """
import subprocess, sys, time
kids = [subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(20_000_000); time.sleep(3600)"])
        for _ in range(2)]
print("kids", *[k.pid for k in kids], flush=True)
time.sleep(3600)
"""


async def test_memory_is_summed_over_the_whole_process_tree(make_app):
    app = await make_app([{"name": "tree", "command": [PY, "-c", TREE]}], procbot={"tree_scan_every": 1})
    path = log_path(app.config.log_dir, "tree")
    await wait_for(lambda: path.exists() and "kids" in path.read_text())
    kids = {int(p) for p in path.read_text().split("kids")[1].split()}
    st = app.supervisor.state("tree")

    async def whole_tree_counted() -> bool:
        # the children allocate after they are spawned: scan until their memory shows, not for a fixed time
        await app.scanner.scan()
        return st.rss_bytes > 60_000_000  # ~10 MB of python each, plus 20 MB in each child: only the sum passes

    await wait_until_true(whole_tree_counted)
    assert set(st.tree_pids) == {st.pid, *kids}


async def test_concurrent_scan_requests_share_one_pass(make_app):
    app = await make_app([{"name": "a", "command": [PY, "-c", "import time; time.sleep(3600)"]}])
    await app.scanner.settled()  # a background tick half done would be joined without being counted
    before = app.scanner.scans
    await asyncio.gather(*(app.scanner.scan() for _ in range(10)))
    assert app.scanner.scans - before == 1


async def test_samples_are_written_in_buckets(make_app):
    app = await make_app([{"name": "a", "command": [PY, "-c", "import time; time.sleep(3600)"]}])
    app.scanner.bucket_seconds = 0.2
    for _ in range(4):
        await app.scanner.scan()
        await asyncio.sleep(0.1)
    await app.scanner.flush(final=True)
    rows = await app.registry.fetch_all("SELECT program, n, up_n FROM samples")
    assert rows
    assert all(program == "a" and up == n for program, n, up in rows)
