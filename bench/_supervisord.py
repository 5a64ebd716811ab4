"""A real supervisord (from the bench environment) managing the same programs as procbot.

XML-RPC is served on 127.0.0.1 (inet_http_server, used with the standard library's
``xmlrpc.client``) and on a UNIX socket (used by ``supervisorctl``, like procbot's CLI).
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Sequence
from pathlib import Path

from bench._util import Workspace, children_of, stop_process, wait_until

BIN = Path(sys.executable).parent
SUPERVISORD = str(BIN / "supervisord")
SUPERVISORCTL = str(BIN / "supervisorctl")
PR_SET_CHILD_SUBREAPER = 36


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Supervisord:
    def __init__(self, ws: Workspace, tag: str, programs: Sequence[tuple[str, Sequence[str]]],
                 startsecs: int = 0, autostart: bool = True) -> None:
        self.ws = ws
        self.dir = ws.sub(f"supervisord-{tag}")
        self.port = free_port()
        self.sock = self.dir / "supervisor.sock"
        self.conf = self.dir / "supervisord.conf"
        self.programs = list(programs)
        self.proc: subprocess.Popen[bytes] | None = None
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        lines = [
            "[supervisord]", "nodaemon=true", f"logfile={self.dir / 'supervisord.log'}",
            f"pidfile={self.dir / 'supervisord.pid'}", f"childlogdir={logs}", "loglevel=warn",
            "[inet_http_server]", f"port=127.0.0.1:{self.port}",
            "[unix_http_server]", f"file={self.sock}", "chmod=0700",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "[supervisorctl]", f"serverurl=unix://{self.sock}",
        ]
        for name, argv in self.programs:
            lines += [
                f"[program:{name}]", f"command={' '.join(argv)}", f"autostart={str(autostart).lower()}",
                "autorestart=true", f"startsecs={startsecs}", "startretries=1000", "stopwaitsecs=5",
                "redirect_stderr=true", f"stdout_logfile={logs / (name + '.log')}",
            ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> float:
        """Launch supervisord; returns the perf_counter time just before the launch."""
        _become_subreaper()
        t0 = time.perf_counter()
        self.proc = self.ws.popen([SUPERVISORD, "-n", "-c", str(self.conf)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return t0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rpc(self) -> xmlrpc.client.ServerProxy:
        """XML-RPC over 127.0.0.1 with the standard library client."""
        return xmlrpc.client.ServerProxy(f"http://127.0.0.1:{self.port}/RPC2")

    def unix_rpc(self) -> xmlrpc.client.ServerProxy:
        """XML-RPC over the UNIX socket with supervisorctl's own transport."""
        from supervisor.xmlrpc import SupervisorTransport

        return xmlrpc.client.ServerProxy("http://127.0.0.1",
                                         transport=SupervisorTransport(None, None, f"unix://{self.sock}"))

    def all_running(self, rpc: xmlrpc.client.ServerProxy | None = None) -> bool:
        try:
            info = (rpc or self.unix_rpc()).supervisor.getAllProcessInfo()
        except (OSError, http.client.HTTPException, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            return False
        return len(info) == len(self.programs) and all(p["statename"] == "RUNNING" for p in info)

    def wait_all_running(self, timeout: float = 120.0, interval: float = 0.02) -> float:
        assert self.proc is not None

        def ok() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"supervisord exited with {self.proc.returncode}; see {self.dir}")
            # a fresh UNIX-socket proxy each poll: supervisorctl's transport stays broken after a failed
            # connect, and the TCP client stalls ~40 ms per call (Nagle/delayed ACK)
            return self.all_running(self.unix_rpc())

        return wait_until(ok, timeout, interval, "supervisord: all RUNNING")

    def stop(self, graceful: bool = False) -> None:
        """Stop supervisord and its programs.

        supervisord's own shutdown stops one process group per main-loop pass (~0.4 s per program
        here: 100 programs take ~40 s), and the bench never measures it, so by default we SIGKILL
        supervisord, then its programs (re-parented to the bench, a child subreaper, which reaps them).
        """
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if graceful:
            with contextlib.suppress(OSError):
                stop_process(proc, timeout=60.0)
            return
        kids = children_of(proc.pid)
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait(10)
        kids += [k for k in children_of(os.getpid()) if k not in kids and self.ws.owns(k)]
        for k in kids:
            with contextlib.suppress(OSError):
                os.kill(k, signal.SIGKILL)
        for k in kids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(k, 0)


_subreaper = False


def _become_subreaper() -> None:
    """Orphans of a killed supervisord come to us (not to PID 1, which reaps them late here)."""
    global _subreaper
    if not _subreaper:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        _subreaper = True
