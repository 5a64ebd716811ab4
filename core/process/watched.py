"""Programs started elsewhere that procbot only watches.

Found by pidfile or by a full command-line pattern during the batch scan;
once found, a pidfd reports their exit at once instead of at the next scan.
Their state moves (:data:`core.process.states.WATCHED_MOVES`) go through the same
:func:`core.process.events.change_state` as a managed program's.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from core.clock import Clock
from core.process import procfs
from core.process.events import EventBus, change_state
from core.process.exit_watch import ExitStatus, ExitWatcher
from core.process.states import ProgramState, State
from core.spec import WatchSpec


class WatchedProgram:
    def __init__(self, spec: WatchSpec, *, bus: EventBus, clock: Clock, base_dir: Path) -> None:
        self.spec = spec
        self.bus = bus
        self.clock = clock
        self.pidfile = (base_dir / spec.pidfile) if spec.pidfile else None
        self.pattern = re.compile(spec.pattern) if spec.pattern else None
        self.st = ProgramState(name=spec.name, kind="watched", group=spec.group, state=State.MISSING)
        self._watcher: ExitWatcher | None = None

    def read_pidfile(self) -> tuple[int | None, str]:
        """(pid, problem). Runs in the scanner's worker thread."""
        assert self.pidfile is not None
        try:
            raw = self.pidfile.read_text(errors="replace")[:64].strip()
        except FileNotFoundError:
            return None, f"pidfile {self.pidfile} does not exist"
        except OSError as e:
            return None, f"cannot read pidfile {self.pidfile}: {e.strerror}"
        if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 2**22:
            return None, f"pidfile {self.pidfile} does not hold a pid"
        pid = int(raw)
        stat = procfs.read_stat(pid)
        if stat is not None and stat.state == "Z":
            # it has exited; only its parent has not reaped it. Calling it found would flap at every scan
            return None, f"pid {pid} from {self.pidfile} has exited (a zombie its parent has not reaped)"
        return pid, ""

    def matches(self, argv: list[str]) -> bool:
        return bool(self.pattern and self.pattern.search(" ".join(argv)))

    def found(self, pid: int, ticks: int) -> None:
        """Called on the loop by the scanner when the program is (still) there."""
        st = self.st
        if st.state is State.RUNNING and st.pid == pid and st.start_ticks == ticks:
            return
        self._close()
        st.pid, st.start_ticks = pid, ticks
        st.started_at = procfs.ticks_to_epoch(ticks, procfs.boot_time())
        st.message = ""
        self._watcher = ExitWatcher(asyncio.get_running_loop(), pid, False, self._on_exit)
        if not self._watcher.start():  # not our child: a gone process fails here, it never reports an exit
            self._watcher = None
            self._lost("gone before it could be watched")
            return
        change_state(st, State.RUNNING, self.bus, self.clock.time(), pid=pid)

    def missing(self, problem: str) -> None:
        st = self.st
        if st.state is State.RUNNING:
            self._lost(problem)
        else:
            st.message = problem

    def _on_exit(self, status: ExitStatus) -> None:
        self._watcher = None
        self._lost("process exited")

    def _lost(self, why: str) -> None:
        st = self.st
        pid = st.pid
        runtime = self.clock.time() - st.started_at if st.started_at else None
        st.pid, st.message = None, why
        st.last_exit_at = self.clock.time()
        change_state(st, State.MISSING, self.bus, self.clock.time(), pid=pid, runtime=runtime, message=why,
                     next_action="watching for it to come back")

    def _close(self) -> None:
        if self._watcher:
            self._watcher.close()
            self._watcher = None

    def detach(self) -> None:
        self._close()
