"""The control socket under load and from strangers: bounded, and every request answered and audited.

Issue 7 case 11 (idle clients exhausting fds), issue 8 case 9 (another uid) and case 20 (backlog, busy CLI).
"""

from __future__ import annotations

import json
import os
import pwd
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot import control_client
from tests.control_socket_helpers import audit_count, audit_rows, eventually, one_program_daemon, read_frame, socket_of
from tests.daemon_harness import Daemon, cli, write_config

PY = sys.executable
NOBODY = 65534


@pytest.fixture
def daemon(tmp_path):
    with one_program_daemon(tmp_path) as d:
        yield d


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_1100_idle_clients_neither_exhaust_the_daemons_fds_nor_go_unanswered(daemon):
    resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE, (1024, 1024))  # the shipped unit's old default
    before = audit_count(daemon.cfg)
    clients = []
    most_fds = 0
    try:
        for _ in range(1100):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(socket_of(daemon.cfg)))  # blocking: waits for room in the listen queue
            s.settimeout(30)
            clients.append(s)
            if len(clients) % 100 == 0:
                most_fds = max(most_fds, open_fds(daemon.proc.pid))
        during = cli(daemon.cfg, "status")
        assert during.returncode in (0, 75), during.stderr  # answered, or told clearly that it is busy
        assert "Traceback" not in during.stderr
        replies = [read_frame(s) for s in clients]
    finally:
        for s in clients:
            s.close()
    assert most_fds < 900
    assert all(r is not None and not r["ok"] for r in replies)
    assert {r["error_code"] for r in replies} <= {"busy", "timeout"}
    assert cli(daemon.cfg, "status").returncode == 0
    assert eventually(lambda: audit_count(daemon.cfg) - before >= 1100)


def test_a_client_over_the_cap_is_told_the_daemon_is_busy_and_the_refusal_is_audited(daemon):
    from bot.control_server import ControlLimits

    held = []
    try:
        for _ in range(ControlLimits().max_clients + 1):  # the cap's worth of idle clients, then one more
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(socket_of(daemon.cfg)))
            held.append(s)
        held[-1].settimeout(3)  # well inside the idle clients' read timeout: only a refusal comes this fast
        reply = read_frame(held[-1])
    finally:
        for s in held:
            s.close()
    assert reply is not None and reply["error_code"] == "busy" and "too many" in reply["text"]
    assert eventually(lambda: any(r["outcome"] == "refused" and "too many" in r["detail"]
                                  for r in audit_rows(daemon.cfg)))


def test_400_concurrent_cli_sends_while_the_daemon_is_stalled_all_get_an_answer(daemon):
    """The daemon cannot accept for a second (SIGSTOP): the backlog holds everyone, the client retries."""
    def one(_: int) -> str:
        try:
            reply = control_client.send(socket_of(daemon.cfg), "status web")
        except control_client.DaemonBusy:
            return "busy"
        return "ok" if reply["ok"] else reply["error_code"]

    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(max_workers=400) as pool:
            futures = [pool.submit(one, i) for i in range(400)]
            time.sleep(1.0)
            os.kill(daemon.proc.pid, signal.SIGCONT)
            outcomes = [f.result() for f in futures]  # a BlockingIOError would be raised here
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
    assert set(outcomes) <= {"ok", "busy"}
    assert outcomes.count("ok") >= 300


def test_the_cli_says_busy_with_its_own_exit_code_when_the_backlog_stays_full(daemon):
    from bot.cli import EXIT_BUSY

    held = []
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        while True:  # fill the listen queue of the stalled daemon until the kernel says EAGAIN
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(str(socket_of(daemon.cfg)))
            except BlockingIOError:
                s.close()
                break
            held.append(s)
            assert len(held) < 100_000
        out = cli(daemon.cfg, "status")
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
        for s in held:
            s.close()
    assert out.returncode == EXIT_BUSY
    assert "busy" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read the listen backlog")
def test_the_listen_backlog_is_sized_for_the_client_cap(daemon):
    from bot.control_server import ControlLimits

    out = subprocess.run(["ss", "-xlH", "src", str(socket_of(daemon.cfg))], capture_output=True, text=True,
                         check=True)
    send_q = int(out.stdout.split()[3])  # for a listening socket, Send-Q is the backlog the kernel uses
    assert send_q >= ControlLimits().max_clients
    assert send_q == ControlLimits().backlog


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another uid")
def test_another_uid_refused_by_so_peercred_gets_the_refusal_text_and_an_audit_row():
    """A real connection from uid 65534: the socket's mode is relaxed so the kernel lets it connect,
    which leaves SO_PEERCRED as the only check, the one this test is about."""
    base = Path(tempfile.mkdtemp(prefix="procbot-peer-", dir="/tmp"))
    try:
        cfg = write_config(base, "")
        d = Daemon(cfg)
        try:
            d.wait_ready(programs=0)
            sock = socket_of(cfg)
            for p in (base, sock.parent):
                os.chmod(p, 0o711)
            os.chmod(sock, 0o666)
            reply = _request_as(NOBODY, sock, b'{"command": "status"}\n')
        finally:
            d.stop()
        assert reply is not None, "the connection was reset instead of answered"
        assert not reply["ok"] and "Only the user running procbot" in reply["text"]
        row = audit_rows(cfg)[-1]
        assert (row["outcome"], row["command"]) == ("refused", "status")
        assert row["user_id"] == pwd.getpwuid(NOBODY).pw_name
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _request_as(uid: int, sock: Path, payload: bytes) -> dict | None:
    """Connect and ask from a forked child that has really become ``uid`` (the kernel records it at connect)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery from here on, only os._exit
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(20)
            s.connect(str(sock))
            try:
                s.sendall(payload)
            except OSError:
                pass
            frame = read_frame(s)
            os.write(w, json.dumps(frame).encode())
        finally:
            os._exit(0)
    os.close(w)
    assert os.stat(sock).st_mode & stat.S_IWOTH  # the test really relaxed the mode
    chunks = []
    while data := os.read(r, 65536):
        chunks.append(data)
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b"null")
