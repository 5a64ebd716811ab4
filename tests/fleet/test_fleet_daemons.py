"""Real `procbot run` hosts in a fleet: kill -9 of a host's procbot is noticed, and its return adopts."""

from __future__ import annotations

import asyncio

from core.actor import Actor, CommandContext
from tests.alert_fixtures import RecordingMessenger
from tests.conftest import sleeper
from tests.daemon_harness import Daemon
from tests.helpers import alive, unique_tag, wait_for

ADMIN = CommandContext(Actor("slack", "U1", "ann"), channel="C1")
ROUTE = {"route": [{"match": ["*"], "to": ["slack:CALERTS"]}]}


def host_config(tmp, nats_url: str, host: str, tag: str):
    d = tmp / host
    d.mkdir()
    cfg = d / "procbot.toml"
    cfg.write_text(
        f'[procbot]\nstate_dir = "state"\nscan_interval = 0.5\nhost_name = "{host}"\nstop_programs_on_exit = true\n'
        f'[cluster]\nurl = "{nats_url}"\nrole = "host"\nheartbeat_interval = 0.2\nheartbeat_ttl = 1.0\n'
        '[permissions]\ngrants = [{ role = "admin", users = ["U1"] }]\n'
        '[[alerts.route]]\nmatch = ["*"]\nto = ["slack:CALERTS"]\n'
        f'[[program]]\nname = "web"\ncommand = {sleeper(tag)!r}\n'.replace("'", '"'))
    return cfg


async def test_kill_9_of_a_host_procbot_is_a_silent_host_and_its_return_adopts_its_programs(
        make_member, nats_server, tmp_path):
    rec = RecordingMessenger("slack")
    _, front = await make_member("front-1", role="front", alerting=True, alerts=ROUTE, messengers={"slack": rec},
                                 permissions={"grants": [{"role": "admin", "users": ["U1"]}]})
    tag = unique_tag("fleet-web")
    cfg = host_config(tmp_path, nats_server.url, "host-3", tag)
    daemon = Daemon(cfg)
    try:
        await asyncio.to_thread(daemon.wait_ready, 1)
        await wait_for(lambda: "host-3" in front.liveness.names(), timeout=10)
        before = await front.commands.handle("status @host-3", ADMIN)
        assert before.ok, before.text
        pid = before.data["programs"][0]["pid"]

        daemon.kill9()
        await wait_for(lambda: any(m.reply.data.get("kind") == "host_silent" for m in rec.messages),
                       timeout=front.settings.heartbeat_ttl + 2)
        assert alive(pid)  # the programs outlive their procbot

        daemon = Daemon(cfg)
        await asyncio.to_thread(daemon.wait_ready, 1)
        silent = next(m for m in rec.messages if m.reply.data.get("kind") == "host_silent")
        await wait_for(lambda: len(rec.replies_to(silent.ref)) == 1, timeout=10)
        after = await front.commands.handle("status @host-3", ADMIN)
        assert after.data["programs"][0]["pid"] == pid  # adopted, not started again
    finally:
        daemon.stop()  # stop_programs_on_exit: its programs go with it
