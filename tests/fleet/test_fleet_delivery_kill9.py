"""kill -9 of a host's procbot after JetStream stored its alert and before the row was marked delivered.

The moment is made by holding the host's SQLite write lock from this process (as
tests/faults/test_kill9_lock_held.py does), no test knob in procbot: the row is
committed while the broker is away, the lock is taken, the broker returns, the host
publishes and the server acks, but ``mark_delivered`` cannot reach the file. The host
is killed there, comes back, publishes the same row again, and the server stores it
once (``Nats-Msg-Id`` dedup) and the front posts the alert once: nothing lost, nothing doubled.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import nats

from core.fleet.codec import decode_event
from core.fleet.subjects import EVT_STREAM
from tests.alert_fixtures import RecordingMessenger
from tests.conftest import PY
from tests.daemon_harness import Daemon, status_json
from tests.fleet.test_fleet_alerts import outbox_of
from tests.helpers import kill_tagged, unique_tag, wait_for

ROUTE = {"route": [{"match": ["*"], "to": ["slack:CALERTS"]}]}


def host_config(tmp: Path, nats_url: str, host: str, tag: str) -> Path:
    """A real host daemon whose web stays "not yet recovered" after a crash (min_uptime 1 h): one alert row."""
    d = tmp / host
    d.mkdir()
    cfg = d / "procbot.toml"
    code = f"import time  # {tag}\nwhile True: time.sleep(3600)"
    cfg.write_text(
        f'[procbot]\nstate_dir = "state"\nscan_interval = 0.5\nhost_name = "{host}"\nstop_programs_on_exit = true\n'
        f'[cluster]\nurl = "{nats_url}"\nrole = "host"\nheartbeat_interval = 0.2\nheartbeat_ttl = 1.0\n'
        '[[alerts.route]]\nmatch = ["*"]\nto = ["slack:CALERTS"]\n'
        f'[[program]]\nname = "web"\ncommand = [{PY!r}, "-c", {code!r}]\nmin_uptime = 3600\n'
        '[program.backoff]\ninitial = 0.05\nfactor = 1.0\nmax = 0.05\n'.replace("'", '"'))
    return cfg


def outbox_rows(cfg: Path) -> list[tuple[int, str, bool]]:
    """(id, action, delivered) of every outbox row in the host's registry file, read from outside."""
    with sqlite3.connect(cfg.parent / "state" / "procbot.db", timeout=10) as conn:
        return [(i, a, d is not None) for i, a, d in
                conn.execute("SELECT id, action, delivered_at FROM outbox ORDER BY id").fetchall()]


def crash_alerts(rec: RecordingMessenger) -> list:
    return [m for m in rec.top_level() if m.reply.data.get("kind") == "alert" and m.reply.data.get("program") == "web"]


async def test_a_host_killed_after_the_servers_ack_and_before_marking_delivered_alerts_once(
        make_member, nats_server, tmp_path):
    rec = RecordingMessenger("slack")
    front_app, _ = await make_member("front-1", role="front", alerting=True, alerts=ROUTE, messengers={"slack": rec})
    tag = unique_tag("kill9-ack")
    cfg = host_config(tmp_path, nats_server.url, "host-3", tag)
    daemons = [Daemon(cfg)]
    holder: sqlite3.Connection | None = None
    try:
        await asyncio.to_thread(daemons[0].wait_ready, 1)
        pid = status_json(cfg)["web"]["pid"]

        nats_server.stop()
        os.kill(pid, signal.SIGKILL)  # the crash alert is committed to the host's outbox and waits there
        await wait_for(lambda: [a for _, a, delivered in outbox_rows(cfg) if not delivered] == ["post"], timeout=15)

        # from now on no write of the host reaches the file (past the 2 s busy timeout it runs from memory)
        holder = sqlite3.connect(cfg.parent / "state" / "procbot.db", timeout=10, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        nats_server.start()
        await wait_for(lambda: len(crash_alerts(rec)) == 1, timeout=30)  # published, stored, acked, delivered
        daemons[0].kill9()
        holder.execute("ROLLBACK")
        holder.close()
        holder = None
        [(row_id, _, delivered)] = outbox_rows(cfg)
        assert not delivered  # the window was hit: acked by JetStream, not marked in the file

        daemons.append(Daemon(cfg))
        await asyncio.to_thread(daemons[1].wait_ready, 1)
        await wait_for(lambda: (row_id, "post", True) in outbox_rows(cfg), timeout=15)  # the same row sent again
        assert await outbox_of(front_app).drain(5)

        assert len(crash_alerts(rec)) == 1
        assert "host-3" in crash_alerts(rec)[0].reply.title
        assert (await stored_events(nats_server.url)).count(("post", "web crashed on host-3")) == 1  # dedup
    finally:
        if holder is not None:
            holder.close()
        for d in daemons:
            if d.proc.poll() is None:
                d.stop()
        kill_tagged(tag)


async def stored_events(url: str) -> list[tuple[str, str]]:
    """(action, title) of every event the stream holds: a duplicate publish is not stored again."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(EVT_STREAM)).state
        events = [decode_event((await js.get_msg(EVT_STREAM, seq)).data or b"")
                  for seq in range(state.first_seq, state.last_seq + 1)]
    finally:
        await nc.close()
    return [(e.action, e.reply.title) for e in events]
