"""Exit detection as it happens, through pidfds on the event loop.

``pidfd_open`` works for children and for processes adopted after a
procbot restart alike, so one mechanism covers both. For a child we then
reap it with ``waitpid`` to learn its exit status; an adopted process is
not our child, so its status is unknowable and reported as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int | None     # None: killed by a signal, or unknown
    signal: str | None        # "SIGKILL" ...
    known: bool = True        # False for adopted (non-child) processes

    def describe(self) -> str:
        if not self.known:
            return "exit status unknown (adopted process)"
        if self.signal:
            return f"killed by {self.signal}"
        return f"exit code {self.exit_code}"


def decode_wait_status(status: int) -> ExitStatus:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return ExitStatus(None, _signame(sig))
    return ExitStatus(os.WEXITSTATUS(status), None)


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class ExitWatcher:
    """Calls back once when a pid exits. Owned by whoever watches the process."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pid: int,
        is_child: bool,
        on_exit: Callable[[ExitStatus], None],
    ) -> None:
        self._loop = loop
        self.pid = pid
        self._is_child = is_child
        self._on_exit = on_exit
        self._fd: int | None = None
        self._done = False

    def start(self) -> bool:
        """Begin watching; returns False if the process is already gone (pidfd_open failed)."""
        try:
            self._fd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            if self._is_child:
                # a child that already exited is still a zombie: pidfd_open would succeed;
                # reaching here means it was reaped elsewhere
                self._fire(ExitStatus(None, None, known=False))
                return True
            return False
        self._loop.add_reader(self._fd, self._readable)
        return True

    def _readable(self) -> None:
        if self._done:
            return
        status = ExitStatus(None, None, known=False)
        if self._is_child:
            try:
                pid, raw = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, raw = self.pid, None
            if pid == 0:
                return  # spurious wake-up; pidfd stays readable only once the process exits
            if raw is not None:
                status = decode_wait_status(raw)
        self._fire(status)

    def _fire(self, status: ExitStatus) -> None:
        self.close()
        self._done = True
        self._on_exit(status)

    def send_signal(self, sig: int) -> None:
        """Signal the process through its pidfd: a pid reused since it exited can never be hit.

        ProcessLookupError once it has exited (even before the exit was handled here).
        """
        if self._fd is None:
            raise ProcessLookupError(self.pid)
        signal.pidfd_send_signal(self._fd, sig)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
