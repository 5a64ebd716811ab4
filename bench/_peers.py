"""procbot, supervisord and PM2 as they run by default, and a watcher that times them from outside.

How peers are measured (and why this way): each daemon is started with its defaults (procbot: a program
is a name and a command; supervisord: a ``[program:x]`` with only ``command=``, the UNIX socket
``supervisorctl`` uses and no TCP server; PM2: an ecosystem file with ``script``/``args`` and
``interpreter: "none"`` so it runs the binary itself). The benchmark never talks to a daemon's API while it
times it. :class:`ProcTable` watches the process table through ``/proc`` only: one ``listdir`` per poll,
``/proc/<pid>/stat`` and ``cmdline`` read once for each new pid, so "running" means "the program's process
exists with its own argv" and "gone" means "no live process of it is left". Polling ``/proc`` wakes no
daemon (supervisord's 1 s loop, PM2's event loop and procbot's pidfd watchers all sleep through it), so
supervisord's 1.0 s wait before its first spawn shows, as it does for a user.

The benchmark process is a child subreaper (``PR_SET_CHILD_SUBREAPER``): PM2's detached daemon and the
programs of a daemon it SIGKILLs re-parent to it, and it reaps them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench._util import CLK_TCK, Workspace, stat_fields

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PROCBOT = str(VENV_BIN / "procbot")
SUPERVISORD = str(VENV_BIN / "supervisord")
SUPERVISORCTL = str(VENV_BIN / "supervisorctl")
PEERS_DIR = ROOT / "bench" / ".peers"
PM2_BIN = PEERS_DIR / "node_modules" / ".bin" / "pm2"
PM2_VERSION = "7.0.4"  # pinned in the Makefile's bench-peers target; 7.0.4 was the newest 7.0 on npm
PR_SET_CHILD_SUBREAPER = 36
RECENT = 2.0  # seconds: a young process that is not (yet) a program may still be a daemon's fork before exec


# -- the process table from outside ---------------------------------------------------------------
def _boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


BOOT = _boot_time()


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(state, ppid, start time as epoch seconds) of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[1]), BOOT + int(fields[19]) / CLK_TCK


def _argv0(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    return head.split(b"\0", 1)[0].decode(errors="replace") if head else None


class ProcTable:
    """The programs (processes whose argv[0] is one of ``exes``) on the host, by parent pid.

    Each poll lists /proc once and reads only the pids it has not seen: cheap enough to poll every
    half millisecond while timing a restart, and it asks no daemon anything.
    """

    def __init__(self, exes: set[str]) -> None:
        self.exes = exes
        self.progs: dict[int, tuple[int, str]] = {}  # pid -> (ppid, argv0)
        self._other: set[int] = set()                # seen, old enough, not a program
        self._young: dict[int, float] = {}           # seen, not a program yet; start time

    def poll(self) -> None:
        pids = {int(n) for n in os.listdir("/proc") if n[0].isdigit()}
        for gone in [p for p in self.progs if p not in pids]:
            del self.progs[gone]
        self._other &= pids
        for pid in pids:
            if pid in self.progs or pid in self._other:
                continue
            st = _stat(pid)
            if st is None:
                continue
            a0 = _argv0(pid)
            if a0 in self.exes:
                self.progs[pid] = (st[1], a0)
                self._young.pop(pid, None)
            elif time.time() - st[2] > RECENT:
                self._other.add(pid)
                self._young.pop(pid, None)
            else:
                self._young[pid] = st[2]  # forked, maybe not exec'd yet: look again next poll

    def of(self, ppid: int) -> dict[int, str]:
        """Program pids (live or zombie) whose parent is ``ppid``, with their argv[0]."""
        return {p: a for p, (pp, a) in self.progs.items() if pp == ppid}

    def live_of(self, ppid: int) -> dict[int, str]:
        out = {}
        for p, a in self.of(ppid).items():
            st = _stat(p)
            if st is not None and st[0] != "Z" and st[1] == ppid:
                out[p] = a
        return out

    def wait(self, pred: Callable[[], bool], timeout: float, interval: float = 0.0005, what: str = "") -> float:
        """Poll until ``pred()``; the perf_counter time of the poll that saw it."""
        deadline = time.perf_counter() + timeout
        while True:
            self.poll()
            now = time.perf_counter()
            if pred():
                return now
            if now > deadline:
                raise TimeoutError(f"{what} not seen within {timeout:.0f} s")
            time.sleep(interval)


# -- daemon figures ---------------------------------------------------------------------------------
def cpu_ns(pid: int) -> int | None:
    """CPU time of all live threads of ``pid`` in ns (schedstat: exact, unlike 10 ms stat ticks)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def cpu_ticks_total(pid: int) -> int | None:
    """utime + stime of the whole process (threads that ended included), in clock ticks."""
    st = stat_fields(pid)
    return int(st[11]) + int(st[12]) if st else None



def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM from /proc/<pid>/status, Pss from smaps_rollup, in MiB."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) / 1024.0
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Pss", "Pss_Anon"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


# -- the code as installed --------------------------------------------------------------------------
PROJECT_PACKAGES = ("core", "bot", "adapters")


def byte_compile_procbot() -> bool:
    """Byte-compile procbot's packages, as ``pip install`` does for a regular install.

    procbot is installed editable here, and with PYTHONDONTWRITEBYTECODE set (as on this machine) every
    ``procbot run`` would compile its ~150 modules from source again, a cost no installed procbot pays and
    supervisord (byte-compiled by pip) never does. True if everything compiled.
    """
    import compileall

    return all(compileall.compile_dir(str(ROOT / p), quiet=1, force=False) for p in PROJECT_PACKAGES)


# -- process hygiene ------------------------------------------------------------------------------
_subreaper = False


def become_subreaper() -> None:
    global _subreaper
    if not _subreaper:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        _subreaper = True


def raise_nofile() -> tuple[int, int]:
    """The bench's soft RLIMIT_NOFILE up to the hard limit; every daemon inherits it (5,000 programs need
    5,000+ pidfds or pipes). Returns the limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def reap() -> None:
    """Collect every exited child (orphans re-parented to us included)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tree(daemon: int, table: ProcTable) -> None:
    """SIGKILL a daemon, then its programs (they re-parent to us), and reap them all."""
    table.poll()
    kids = list(table.of(daemon))
    with contextlib.suppress(OSError):
        os.kill(daemon, signal.SIGKILL)
    for k in kids:
        with contextlib.suppress(OSError):
            os.kill(k, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reap()
        table.poll()
        if not table.live_of(daemon) and not any(_stat(k) for k in kids) and _stat(daemon) is None:
            break
        time.sleep(0.01)
    reap()


# -- the peers -----------------------------------------------------------------------------------------
def program_list(ws: Workspace, n: int) -> list[tuple[str, list[str]]]:
    """``n`` sleep programs, each through its own symlink (so argv[0] names the program)."""
    return [(f"p{i:04d}", [ws.exe(f"pb{i:04d}"), "100000"]) for i in range(n)]


class Peer:
    """One supervisor daemon managing ``programs`` with its defaults."""

    name = "peer"

    def __init__(self, ws: Workspace, tag: str, programs: Sequence[tuple[str, Sequence[str]]]) -> None:
        self.ws = ws
        self.tag = tag
        self.programs = list(programs)
        self.n = len(self.programs)
        self.dir = ws.sub(f"{self.name}-{tag}")
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = dict(os.environ)

    def launch(self) -> float:
        """Start the daemon; the perf_counter time just before."""
        raise NotImplementedError

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def cli(self, verb: str) -> list[str]:
        raise NotImplementedError

    def run_cli(self, verb: str, timeout: float = 600.0) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.cli(verb), capture_output=True, timeout=timeout, env=self.env,
                              stdin=subprocess.DEVNULL)

    def popen_cli(self, verb: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.cli(verb), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, env=self.env)

    def teardown(self, table: ProcTable) -> None:
        pid = self.pid()
        if pid is not None:
            kill_tree(pid, table)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError):
                self.proc.wait(5)
        self.proc = None


class Procbot(Peer):
    name = "procbot"

    def __init__(self, ws: Workspace, tag: str, programs: Sequence[tuple[str, Sequence[str]]]) -> None:
        super().__init__(ws, tag, programs)
        self.conf = self.dir / "procbot.toml"
        lines = ["[procbot]", 'state_dir = "state"', ""]
        for name, argv in self.programs:
            lines += ["[[program]]", f"name = {json.dumps(name)}", f"command = {json.dumps(list(argv))}", ""]
        self.conf.write_text("\n".join(lines))
        self.env = {k: v for k, v in os.environ.items()
                    if k != "PROCBOT_CONFIG" and not k.startswith(("SLACK_", "DISCORD_"))}

    def launch(self) -> float:
        t0 = time.perf_counter()
        self.proc = self.ws.popen([PROCBOT, "run", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                  stderr=open(self.dir / "stderr.log", "wb"), env=self.env)  # noqa: SIM115
        return t0

    def cli(self, verb: str) -> list[str]:
        return [PROCBOT, "-c", str(self.conf), *verb.split()]

    def logd_pid(self) -> int | None:
        """procbot's log daemon (its own process, which reads the programs' pipes), from its lock file."""
        from core.logd.protocol import LOCK_NAME

        with contextlib.suppress(OSError, ValueError):
            return int((self.dir / "state" / LOCK_NAME).read_text().split()[0])
        return None


class Supervisord(Peer):
    name = "supervisord"

    def __init__(self, ws: Workspace, tag: str, programs: Sequence[tuple[str, Sequence[str]]]) -> None:
        super().__init__(ws, tag, programs)
        self.conf = self.dir / "supervisord.conf"
        sock = self.dir / "supervisor.sock"
        lines = [  # what echo_supervisord_conf ships, minus comments, with paths inside the bench dir
            "[unix_http_server]", f"file={sock}",
            "[supervisord]", f"logfile={self.dir / 'supervisord.log'}", f"pidfile={self.dir / 'supervisord.pid'}",
            f"childlogdir={self.dir}", "nodaemon=true",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "[supervisorctl]", f"serverurl=unix://{sock}",
        ]
        for name, argv in self.programs:
            lines += [f"[program:{name}]", f"command={' '.join(argv)}"]
        self.conf.write_text("\n".join(lines) + "\n")

    def launch(self) -> float:
        become_subreaper()
        t0 = time.perf_counter()
        self.proc = self.ws.popen([SUPERVISORD, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        return t0

    def cli(self, verb: str) -> list[str]:
        return [SUPERVISORCTL, "-c", str(self.conf), *verb.split()]


class PM2(Peer):
    name = "pm2"

    def __init__(self, ws: Workspace, tag: str, programs: Sequence[tuple[str, Sequence[str]]]) -> None:
        super().__init__(ws, tag, programs)
        self.home = self.dir / "home"
        self.eco = self.dir / "ecosystem.json"
        apps = [{"name": name, "script": argv[0], "args": list(argv[1:]), "interpreter": "none"}
                for name, argv in self.programs]
        self.eco.write_text(json.dumps({"apps": apps}))
        self.env = dict(os.environ, PM2_HOME=str(self.home))
        self._god: int | None = None

    @staticmethod
    def available() -> bool:
        return PM2_BIN.exists() and shutil.which("node") is not None

    def launch(self) -> float:
        """`pm2 start ecosystem.json` with no daemon yet: the CLI starts PM2's daemon, then the apps."""
        become_subreaper()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([str(PM2_BIN), "start", str(self.eco)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=self.env)
        return t0

    def pid(self) -> int | None:
        """PM2's daemon ("God"), from the pid file it writes on start."""
        if self._god is None:
            with contextlib.suppress(OSError, ValueError):
                self._god = int((self.home / "pm2.pid").read_text().strip())
        return self._god

    def cli(self, verb: str) -> list[str]:
        return [str(PM2_BIN), *verb.split()]

    def teardown(self, table: ProcTable) -> None:
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(60)
        self.proc = None
        god = self.pid()
        if god is not None:
            kill_tree(god, table)
        self._god = None


PEERS: dict[str, type[Peer]] = {"procbot": Procbot, "supervisord": Supervisord, "pm2": PM2}
