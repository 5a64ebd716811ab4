"""`procbot -H HOST ...`: the local CLI reaches another host through its own daemon's fleet link."""

from __future__ import annotations

import asyncio

from tests.conftest import sleeper
from tests.daemon_harness import Daemon, cli
from tests.helpers import unique_tag, wait_until_true


def front_config(tmp, nats_url: str):
    d = tmp / "front-1"
    d.mkdir()
    cfg = d / "procbot.toml"
    cfg.write_text('[procbot]\nstate_dir = "state"\n'
                   f'[cluster]\nurl = "{nats_url}"\nhost = "front-1"\nrole = "front"\n'
                   'heartbeat_interval = 0.2\nheartbeat_ttl = 1.0\n')
    return cfg


async def test_dash_h_runs_a_command_on_another_host_through_the_local_daemon(make_member, nats_server, tmp_path):
    tag = unique_tag("cli-host")
    await make_member("host-2", programs=[{"name": "api", "command": sleeper(tag)}])
    daemon = Daemon(front_config(tmp_path, nats_server.url))
    try:
        cfg = daemon.cfg  # a front's `status --json` is the fleet's, so wait for it by `hosts` instead

        async def front_knows_host_2() -> bool:
            out = await asyncio.to_thread(cli, cfg, "hosts")
            return out.returncode == 0 and "host-2" in out.stdout

        await wait_until_true(front_knows_host_2, timeout=10)
        out = await asyncio.to_thread(cli, cfg, "-H", "host-2", "status", "api")
        assert out.returncode == 0, out.stdout + out.stderr  # up: starting or running

        async def api_running_on_host_2() -> bool:  # host-2 may be heard of before api lasted min_uptime
            nonlocal out
            out = await asyncio.to_thread(cli, cfg, "-H", "host-2", "status", "api")
            return "running" in out.stdout

        await wait_until_true(api_running_on_host_2, timeout=10)
        assert "api" in out.stdout and "running" in out.stdout
        assert "host-2" in out.stdout
    finally:
        daemon.stop()
