"""The three probes a health table can name: an HTTP GET, a TCP connect, an argv command.

Each :meth:`Probe.check` returns a :class:`~core.health.verdict.ProbeResult` and never raises for
what a probe can meet (refused, reset, timed out, not found); each is bounded by the check's
``timeout``, so a hung endpoint or command costs one timeout, never the loop. A command runs without
a shell, in its own process group inside procbot's session (so the orphan reaper leaves it to its
own waiter), and is killed with its group when it overruns or the check is cancelled; its output is
kept bounded and masked, for procbot's log only. HTTP uses aiohttp, which procbot depends on anyway;
redirects are not followed (a 3xx is an answer, and following one could leave this host).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.health.targets import host_port, http_target
from core.health.verdict import ProbeResult
from core.redact import mask_secrets
from core.spec import HealthSpec

if TYPE_CHECKING:
    import aiohttp

#: bytes of a command's output kept, the last ones (the rest is read and dropped: a chatty command never blocks)
MAX_OUTPUT = 4096
#: lines and characters per line of it that reach procbot's log
OUTPUT_LINES, OUTPUT_LINE_CHARS = 3, 200


class Probe(Protocol):
    async def check(self) -> ProbeResult: ...

    async def close(self) -> None: ...


def probe_for(spec: HealthSpec, *, env: Mapping[str, str], cwd: Path | None) -> Probe:
    """The probe a health table names (the model guarantees exactly one of the three)."""
    if spec.http is not None:
        return HttpProbe(spec.http, spec.timeout)
    if spec.tcp is not None:
        return TcpProbe(spec.tcp, spec.timeout)
    assert spec.command is not None
    return CommandProbe(spec.command, spec.timeout, env=env, cwd=cwd)


def _secs(t: float) -> str:
    return f"{t:g}s"


class HttpProbe:
    """GET the URL; a 2xx or 3xx status is healthy. One session per program, no connection reuse."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url, self.timeout = url, timeout
        self.what = f"GET {http_target(url).path}"
        self._session: aiohttp.ClientSession | None = None

    async def check(self) -> ProbeResult:
        import aiohttp

        try:
            async with asyncio.timeout(self.timeout):
                if self._session is None:
                    # a fresh connection each probe: a restarted server never meets a stale keep-alive
                    self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                                          timeout=aiohttp.ClientTimeout(total=None))
                async with self._session.get(self.url, allow_redirects=False) as resp:
                    status = resp.status
        except TimeoutError:
            return ProbeResult(False, f"{self.what} timed out after {_secs(self.timeout)}")
        except aiohttp.ClientConnectorError as e:
            return ProbeResult(False, f"{self.what} failed: {_connect_error(e.os_error)}")
        except (aiohttp.ClientError, OSError) as e:
            return ProbeResult(False, f"{self.what} failed: {type(e).__name__}")
        return ProbeResult(200 <= status < 400, f"{self.what} returned {status}")

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class TcpProbe:
    """Connect and close at once; accepted is healthy."""

    def __init__(self, target: str, timeout: float) -> None:
        self.host, self.port = host_port(target)
        self.timeout = timeout
        self.what = f"tcp {target}"

    async def check(self) -> ProbeResult:
        try:
            async with asyncio.timeout(self.timeout):
                _, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        except TimeoutError:
            return ProbeResult(False, f"{self.what} timed out after {_secs(self.timeout)}")
        except OSError as e:
            return ProbeResult(False, f"{self.what} {_connect_error(e)}")
        return ProbeResult(True, f"{self.what} accepted a connection")

    async def close(self) -> None:
        return None


def _connect_error(e: OSError) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "refused connection"
    return e.strerror.lower() if e.strerror else type(e).__name__


class CommandProbe:
    """Run argv (never a shell); exit 0 is healthy. Killed, with its process group, at the timeout."""

    def __init__(self, argv: list[str], timeout: float, *, env: Mapping[str, str], cwd: Path | None) -> None:
        self.argv, self.timeout = list(argv), timeout
        self.env, self.cwd = dict(env), cwd
        self.what = f"command {Path(argv[0]).name}"

    async def check(self) -> ProbeResult:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.cwd, close_fds=True,
                process_group=0,  # its own group, to kill it whole; procbot's session, see the module doc
            )
        except OSError as e:
            return ProbeResult(False, f"{self.what} could not start: {(e.strerror or type(e).__name__).lower()}")
        kept = bytearray()
        code: int | None = None
        try:
            async with asyncio.timeout(self.timeout):
                assert proc.stdout is not None
                while chunk := await proc.stdout.read(65536):
                    kept = (kept + chunk)[-MAX_OUTPUT:]
                code = await proc.wait()
        except TimeoutError:  # the leader, or something it left holding the output, overran
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.returncode is None:  # overran, or the check was cancelled: the whole group goes
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if code is None:
            return ProbeResult(False, f"{self.what} timed out after {_secs(self.timeout)} (killed)",
                               _excerpt(kept))
        if code == 0:
            return ProbeResult(True, f"{self.what} exited 0", _excerpt(kept))
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 and -code in _SIGNALS else f"exited {code}"
        return ProbeResult(False, f"{self.what} {how}", _excerpt(kept))

    async def close(self) -> None:
        return None


_SIGNALS = {s.value for s in signal.Signals}


def _excerpt(raw: bytes | bytearray) -> str:
    """The last few lines of a command's output, each cut short, with secret-looking values masked."""
    lines = [ln.strip() for ln in bytes(raw).decode(errors="replace").splitlines() if ln.strip()]
    return mask_secrets("\n".join(ln[:OUTPUT_LINE_CHARS] for ln in lines[-OUTPUT_LINES:]))
