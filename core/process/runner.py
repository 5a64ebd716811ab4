"""One managed program: spawn, watch, stop; the restart policy decides, the runner acts.

All transitions for a program go through its runner's :meth:`ProgramRunner._change_state` (checked
against :data:`core.process.states.MANAGED_MOVES`, publishing the event the move derives), and every
request-driven transition holds the runner's lock, so two restarts of one program at once never
spawn two copies. What an exit leads to is decided by :mod:`core.process.restart_policy`, purely.

A program with a ``health`` table has a :class:`core.health.monitor.HealthMonitor`: started by the move
to ``running``, ended by any move out of running/unhealthy (awaited on a stop), it reports verdicts that
the runner turns into ``running <-> unhealthy`` moves and, with ``on_unhealthy = "restart"``, a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from core.clock import Clock
from core.errors import AlreadyRunning, IllegalTransition, NotRunning, SpawnFailed, SpawnSettingError
from core.health.monitor import HealthMonitor
from core.health.verdict import ProbeResult, Verdict
from core.logd.client import ChildOutput, ChildStreams, DirectFiles
from core.process import procfs, spawn_args
from core.process.events import EventBus, change_state
from core.process.exit_watch import ExitStatus, ExitWatcher
from core.process.identity import Identity, SpawnHook
from core.process.logs import log_path
from core.process.memory_limit import hard_limit
from core.process.restart_policy import Decision, RestartPolicy, Tally
from core.process.states import STARTED_STATES, ProgramState, State, allowed
from core.process.sweep import Sweeper, killpg
from core.process.tags import new_nonce
from core.spec import ProgramSpec
from core.store.run_log import RunLog

log = logging.getLogger(__name__)

#: who an automatic restart is by (the digest counts the starts made so)
RESTART_BY = "procbot (restart policy)"
#: who stops an unhealthy program to restart it (on_unhealthy = "restart")
HEALTH_BY = "procbot (health check)"


class ProgramRunner:
    def __init__(
        self,
        spec: ProgramSpec,
        *,
        run_log: RunLog,
        identity: Identity,
        bus: EventBus,
        clock: Clock,
        log_dir: Path,
        base_dir: Path,
        env: Mapping[str, str],
        tasks: Callable[[asyncio.Task[None]], None],
        logs: ChildOutput | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.spec = spec
        #: told when the program becomes ready without a state move (its first passing health probe), so
        #: programs that depend on it (core.process.sequencer) hear of it; a state move reaches them on the bus
        self._on_ready = on_ready
        self.policy = RestartPolicy.of(spec)
        self.sweeper = Sweeper(identity, spec.name, spec.stop_signal, spec.stop_timeout, clock)
        self.run_log = run_log
        self.identity = identity
        self.bus = bus
        self.clock = clock
        self.log_dir = log_dir
        self.log_file = log_path(log_dir, spec.name)
        self.logs = logs or DirectFiles(log_dir)
        self.base_dir = base_dir
        self.env = dict(env)
        self._own_task = tasks
        self.lock = asyncio.Lock()
        self.st = ProgramState(name=spec.name, kind="managed", group=spec.group)
        self._popen: subprocess.Popen[bytes] | None = None
        self._watcher: ExitWatcher | None = None
        self._exited: asyncio.Event = asyncio.Event()
        self._restart_timer: asyncio.TimerHandle | None = None
        self._uptime_timer: asyncio.TimerHandle | None = None
        self._stopping = False
        self._sweep: asyncio.Future[None] | None = None
        self.nonce: str | None = None  # the current run's, as in its environment tag and its row
        self.st.health_checked = spec.health is not None
        #: the program's health check, probing while it runs; None without one (no task, no cost)
        self.health = self._health_monitor()
        self._ready = asyncio.Event()  # set while self.st.ready (see wait_ready)

    def _change_state(self, new: State, *, clean_exit: bool = False, at: float | None = None,
                      **fields: object) -> None:
        """The only assignment of this program's state: checked, then published as the move's event.

        A move also starts or ends the health check (probing while running or unhealthy) and sets readiness.
        """
        change_state(self.st, new, self.bus, self.clock.time() if at is None else at, clean_exit=clean_exit,
                     **fields)
        if self.health is not None:
            if new is State.RUNNING:
                self.health.start(self.st.started_mono if self.st.started_mono is not None
                                  else self.clock.monotonic())
            elif new is not State.UNHEALTHY:  # the run ended or is ending: its verdict goes with it
                self.health.cancel()
                self.st.healthy, self.st.health_detail = None, ""
        self._follow_ready()

    def _follow_ready(self) -> None:
        if not self.st.ready:
            self._ready.clear()
        elif not self._ready.is_set():
            self._ready.set()
            if self._on_ready is not None:
                self._on_ready()

    async def wait_ready(self) -> None:
        """Return once the program is ready (:attr:`ProgramState.ready`): running, and healthy when it
        has a health check. What a dependent's start waits for; the caller bounds it with a timeout."""
        await self._ready.wait()

    @property
    def _tally(self) -> Tally:
        return Tally(self.st.failures, self.st.quick_failures)

    def _remember(self, d: Decision) -> None:
        self.st.failures, self.st.quick_failures = d.tally.failures, d.tally.quick

    # -- public operations (callers hold no lock; we take it) -------------
    async def start(self, by: str, automatic: bool = False) -> None:
        """Start by hand, or ``automatic`` (autostart, reload): a failed automatic start is retried
        with the backoff, like a crash, instead of raising."""
        async with self.lock:
            await self._start_locked(by, manual=True, retry=automatic)

    async def stop(self, by: str) -> None:
        async with self.lock:
            await self._stop_locked(by)

    async def restart(self, by: str) -> None:
        async with self.lock:
            if self.st.state.is_up:
                await self._stop_locked(by)
            await self._start_locked(by, manual=True)

    async def restart_running(self, by: str) -> bool:
        """procbot's own restart of a running program (max_memory, restart_cron): a graceful stop
        (stop_signal, stop_timeout, then SIGKILL) and a start, counted in ``restarts`` with the failure
        tally kept, as an automatic restart is. False, and nothing done, if it is not running: a
        program stopped (or failing) in the meantime stays as it is."""
        async with self.lock:
            if self.st.state not in STARTED_STATES:
                return False
            await self._stop_locked(by)
            self.st.restarts += 1
            await self._start_locked(by, manual=False, retry=True)
        return True

    # -- spawning --------------------------------------------------------
    async def _start_locked(self, by: str, manual: bool, retry: bool = False) -> None:
        st = self.st
        if st.state in STARTED_STATES:
            raise AlreadyRunning(f"`{st.name}` is already running (pid {st.pid}).")
        self._cancel_restart_timer()
        await self._leftovers_gone()
        if manual:
            st.failures, st.quick_failures = (), 0
            st.restarts = 0
        self._spawn(by, retry, await self._spawn_args())

    async def _leftovers_gone(self) -> None:
        if self._sweep is not None:
            await asyncio.gather(self._sweep, return_exceptions=True)
            self._sweep = None

    async def _spawn_args(self) -> spawn_args.SpawnArgs | SpawnSettingError:
        """User, environment (env files are read now, so a restart picks up their changes) and limits:
        in a thread when a lookup or a file read may block; the error, if any, for :meth:`_spawn` to report."""
        try:
            if spawn_args.blocking(self.spec):
                return await asyncio.to_thread(spawn_args.prepare, self.spec, self.base_dir, self.env)
            return spawn_args.prepare(self.spec, self.base_dir, self.env)
        except SpawnSettingError as e:
            return e

    def _spawn(self, by: str, retry: bool, args: spawn_args.SpawnArgs | SpawnSettingError) -> None:
        """Fork the program. A failure raises SpawnFailed, or with ``retry`` goes to backoff like a crash."""
        st, spec = self.st, self.spec
        if not allowed(st.kind, st.state, State.STARTING):  # refused before the fork, not after it
            raise IllegalTransition(st.name, st.state.value, State.STARTING.value)
        nonce = new_nonce()
        cwd: str | None = None
        hook: SpawnHook | None = None
        streams: ChildStreams | None = None
        try:
            if isinstance(args, SpawnSettingError):
                raise args
            cwd = str(self._resolve(spec.cwd)) if spec.cwd else None
            hook = self.identity.hook(spec.name, nonce)
            self.identity.limit_memory(spec.name, hard_limit(spec))  # cgroup memory.max (max_memory)
            streams = self.logs.open(spec)  # a pipe to the log daemon, or the file itself as a fallback
            popen = subprocess.Popen(  # argv list, never a shell
                spec.command,
                cwd=cwd,
                env={**args.env, **hook.env},
                stdin=subprocess.DEVNULL,
                stdout=streams.stdout,
                stderr=streams.stderr,
                start_new_session=True,
                close_fds=True,  # no preexec_fn: subprocess keeps its fast vfork path (see identity._place)
                **args.popen,  # user, group, extra_groups, umask: Popen's own; a user switch forks (spawn_args)
            )
            self._limit(popen, args)
        except (OSError, ValueError, subprocess.SubprocessError, SpawnSettingError) as e:
            if hook is not None:
                hook.close()
            self._spawn_failed(by, _spawn_error_text(spec, cwd, e), retry)
            if retry:
                return
            raise SpawnFailed(st.message) from e
        finally:
            if streams is not None:
                streams.close()  # the child has its copies; the log daemon (or the file) has the other end
        try:
            if hook.placed is not None:
                hook.placed(popen.pid)
        except OSError as e:  # it runs, tagged; only its cgroup is missing
            log.error("could not put %s pid %d in its cgroup: %s", spec.name, popen.pid, e)
        finally:
            hook.close()
        pid = popen.pid
        ticks = procfs.start_ticks(pid) or 0
        now = self.clock.time()
        self._popen = popen
        st.pid, st.start_ticks = pid, ticks
        st.started_at, st.started_mono = now, self.clock.monotonic()
        st.adopted = False
        st.message = ""
        st.next_start_at = None
        st.run_id = None
        self.nonce = nonce
        self._exited = asyncio.Event()
        # before the watcher: a child reaped elsewhere reports its exit from inside _watch
        self._change_state(State.STARTING, at=now, pid=pid, by=by)
        # The child cannot vanish before the watcher exists: it stays a zombie until we reap it, so
        # the pidfd opened now still reports an early exit. The row is written behind our back (the
        # cgroup or the tag, not the row, is what makes the process known to the next procbot), so
        # a registry that is full or locked never delays, kills or forgets the program.
        self._watch(is_child=True)
        self.run_log.started(st.name, pid, ticks, now, by, nonce)
        self._arm_uptime_timer(self.spec.min_uptime)
        log.info("started %s pid=%d by=%s", st.name, pid, by)

    def _limit(self, popen: subprocess.Popen[bytes], args: spawn_args.SpawnArgs) -> None:
        """Apply the limits at once. A child the kernel would not limit is killed before anything
        records it: a program must never run without the limits its config promises."""
        if not args.limits:
            return
        try:
            spawn_args.apply_limits(popen.pid, args.limits)
        except ProcessLookupError:
            return  # it exited already: the watcher reports the exit like any other
        except OSError as e:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()  # SIGKILLed a moment after its exec: reaped at once
            raise SpawnSettingError("limits", f"the kernel refused its limits: {e.strerror}") from e

    def _spawn_failed(self, by: str, message: str, retry: bool) -> None:
        """A start the OS refused. By hand: spawn-error, the user hears why. Automatic: it counts as a
        failure (like supervisord's startretries) and is retried with the backoff until the give-up rule."""
        st = self.st
        now = self.clock.time()
        st.pid = None
        st.message = message
        log.error("%s (by %s)", message, by)
        if not retry:
            self._change_state(State.SPAWN_ERROR, at=now, message=message, by=by,
                               next_action="not restarting until started by hand")
            return
        d = self.policy.after_spawn_failure(self._tally, self.clock.monotonic())
        self._remember(d)
        if d.state is State.FATAL:
            self._give_up(d, now, message=message, why=message)
            return
        assert d.delay is not None
        st.next_start_at = now + d.delay
        self._change_state(State.BACKOFF, at=now, message=message, by=by, failures_in_window=len(st.failures),
                           restarts=st.restarts, next_action=d.next_action, next_delay=d.delay)
        self._schedule_restart(d.delay)

    def _give_up(self, d: Decision, now: float, why: str = "", **fields: object) -> None:
        st = self.st
        st.message = self.policy.gave_up_message(len(st.failures), why)
        self._change_state(State.FATAL, at=now, clean_exit=d.clean, failures_in_window=len(st.failures),
                           restarts=st.restarts, next_action=d.next_action, **fields)

    def adopt(self, nonce: str, pid: int, ticks: int, started_at: float, recorded: bool = True) -> bool:
        """Take over a process a previous procbot started; False if it is gone.

        ``recorded`` is False for a process found in the program's cgroup or by its tag with no run
        row (procbot died between the spawn and the write, or the registry was lost): it gets one now.
        """
        st = self.st
        st.pid, st.start_ticks, st.run_id = pid, ticks, None
        self.nonce = nonce
        st.started_at = started_at
        uptime = max(0.0, self.clock.time() - started_at)
        st.started_mono = self.clock.monotonic() - uptime
        st.adopted = True
        self._exited = asyncio.Event()
        if not self._watch(is_child=False):
            return False
        if not recorded:
            self.run_log.started(st.name, pid, ticks, started_at, "adopted", nonce, adopted=True)
        young = uptime < self.spec.min_uptime
        self._change_state(State.STARTING if young else State.RUNNING, pid=pid, by="adopted")
        if young:
            self._arm_uptime_timer(self.spec.min_uptime - uptime)
        return True

    def _watch(self, is_child: bool) -> bool:
        assert self.st.pid is not None
        loop = asyncio.get_running_loop()
        self._watcher = ExitWatcher(loop, self.st.pid, is_child, self._on_exit)
        return self._watcher.start()

    def _arm_uptime_timer(self, delay: float) -> None:
        if self._uptime_timer:
            self._uptime_timer.cancel()
        loop = asyncio.get_running_loop()
        self._uptime_timer = loop.call_later(max(0.0, delay), self._reached_uptime)

    def _reached_uptime(self) -> None:
        st = self.st
        self._uptime_timer = None
        if st.state is State.STARTING:
            st.quick_failures = 0
            self._change_state(State.RUNNING, pid=st.pid, restarts=st.restarts)

    # -- exit handling ---------------------------------------------------
    def _on_exit(self, status: ExitStatus) -> None:
        """Runs in the loop the moment the pidfd turns readable."""
        st = self.st
        if self._popen is not None:
            self._popen.returncode = status.exit_code if status.exit_code is not None else -1
            self._popen = None
        self._watcher = None
        if self._uptime_timer:
            self._uptime_timer.cancel()
            self._uptime_timer = None
        now, mono = self.clock.time(), self.clock.monotonic()
        runtime = mono - st.started_mono if st.started_mono is not None else None
        pid, nonce = st.pid, self.nonce
        st.exit_code, st.signal = status.exit_code, status.signal
        st.last_exit_at, st.last_runtime = now, runtime
        self._exited.set()
        if self._stopping:
            self.run_log.ended(nonce, now, status.exit_code, status.signal, "stopped")
            return
        if pid is not None:
            self._sweep_leftovers(pid, nonce)
        d = self.policy.after_exit(status, runtime, self._tally, mono)
        self.run_log.ended(nonce, now, status.exit_code, status.signal, "exited" if d.clean else "crashed")
        self._remember(d)
        facts: dict[str, object] = dict(pid=pid, exit_code=status.exit_code, signal=status.signal,
                                        runtime=runtime, message=status.describe(),
                                        oom_kills=self.identity.oom_kills_since_spawn(st.name))  # read before a respawn
        if d.state is State.FATAL:
            self._give_up(d, now, **facts)
            return
        if d.state is State.BACKOFF:
            assert d.delay is not None
            st.next_start_at = now + d.delay
            facts.update(next_delay=d.delay, failures_in_window=0 if d.clean else len(st.failures))
        self._change_state(d.state, at=now, clean_exit=d.clean, restarts=st.restarts, next_action=d.next_action,
                           **facts)
        if d.delay is not None:
            self._schedule_restart(d.delay)  # after publishing: subscribers hear of the exit before the respawn

    def _schedule_restart(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        if delay <= 0:
            self._restart_timer = None
            self._own_task(asyncio.ensure_future(self._auto_restart()))
        else:
            self._restart_timer = loop.call_later(
                delay, lambda: self._own_task(asyncio.ensure_future(self._auto_restart()))
            )

    async def _auto_restart(self) -> None:
        async with self.lock:
            self._restart_timer = None
            if self.st.state is not State.BACKOFF:
                return  # a manual stop or start got there first
            by = RESTART_BY
            try:
                await self._leftovers_gone()
                args = await self._spawn_args()
                self.st.restarts += 1
                self._spawn(by, retry=True, args=args)
            except Exception as e:  # never left in backoff with nothing scheduled: retry, or give up
                log.exception("restarting %s failed", self.st.name)
                self._spawn_failed(by, f"cannot start `{self.st.name}`: {e}", retry=True)

    def _cancel_restart_timer(self) -> None:
        if self._restart_timer is not None:
            self._restart_timer.cancel()
            self._restart_timer = None

    # -- health ----------------------------------------------------------
    def _health_monitor(self) -> HealthMonitor | None:
        spec = self.spec
        if spec.health is None:
            return None
        from core.health.probes import probe_for  # aiohttp and friends, only for a program with a check

        health = spec.health
        return HealthMonitor(
            spec.name, health, clock=self.clock, report=self._health_report, own=self._own_task,
            probe=lambda: probe_for(health, env=self.env, cwd=self._resolve(spec.cwd) if spec.cwd else None))

    def _health_report(self, result: ProbeResult, verdict: Verdict | None) -> bool:
        """A probe's result, and the verdict when it changed; False: stop probing (a restart is coming)."""
        st = self.st
        st.health_detail = result.detail
        if verdict is None:
            return True
        st.healthy = verdict.healthy
        if verdict.healthy:
            if st.state is State.UNHEALTHY:  # recovered without a restart (on_unhealthy = "alert")
                st.message = ""
                log.info("%s is healthy again: %s", st.name, verdict.text)
                self._change_state(State.RUNNING, pid=st.pid, restarts=st.restarts, message=verdict.text)
            else:
                self._follow_ready()  # its first passing probe: ready
            return True
        if st.state is not State.RUNNING:
            return True
        restart = self.spec.on_unhealthy == "restart"
        st.message = f"unhealthy: {verdict.text}"
        output = f"; last output: {result.output}" if result.output else ""  # masked and bounded
        log.warning("%s unhealthy: %s%s", st.name, verdict.text, output)
        self._change_state(State.UNHEALTHY, pid=st.pid, restarts=st.restarts, message=verdict.text,
                           next_action="restarting" if restart else "keeps running (on_unhealthy = alert)")
        if restart:
            self._own_task(asyncio.ensure_future(self._health_restart()))
        return not restart

    async def _health_restart(self) -> None:
        """on_unhealthy = "restart": stop the unhealthy run and start a new one, an automatic restart.

        Not a failure for the give-up rule: a program that is unhealthy because what it needs is down
        would otherwise be given up and stay down after that comes back (Docker and Kubernetes restart
        it for as long as it takes; the incident is one alert, edited, however often it happens).
        """
        async with self.lock:
            if self.st.state is not State.UNHEALTHY:
                return  # stopped, restarted or exited meanwhile
            await self._stop_locked(HEALTH_BY)
            self.st.restarts += 1
            try:
                await self._leftovers_gone()
                self._spawn(RESTART_BY, True, await self._spawn_args())
            except Exception as e:  # as in _auto_restart: never left stopped with nothing scheduled
                log.exception("restarting %s failed", self.st.name)
                self._spawn_failed(RESTART_BY, f"cannot start `{self.st.name}`: {e}", retry=True)

    # -- stopping --------------------------------------------------------
    async def _stop_locked(self, by: str) -> None:
        st, spec = self.st, self.spec
        if self.health is not None:
            await self.health.stop()  # no probe in flight (or about to report) while the program stops
        if st.state is State.BACKOFF:
            self._cancel_restart_timer()
            await self._leftovers_gone()
            await self.sweeper.sweep_members()  # what the last run left (a daemon it forked) goes too
            st.next_start_at, st.pid = None, None
            st.message = f"stopped by {by}"
            self._change_state(State.STOPPED, by=by)
            return
        if not st.state.is_up or st.pid is None:
            raise NotRunning(f"`{st.name}` is not running (state: {st.state.value}).")
        pgid = st.pid  # the program leads its own session and process group
        if st.state is not State.STOPPING:  # STOPPING: a stop that was cancelled half-way, tried again
            self._change_state(State.STOPPING)
        self._stopping = True
        try:
            sig = signal.Signals[spec.stop_signal]
            deadline = self.clock.monotonic() + spec.stop_timeout
            # the group, and every process of the program that left it (setsid, setpgid, double-fork)
            killpg(pgid, sig)
            await self.sweeper.signal_members(sig, skip_pgid=pgid)
            if not await self._wait_exit(spec.stop_timeout):
                log.warning("%s ignored %s for %.1fs; sending SIGKILL", st.name, sig.name, spec.stop_timeout)
                killpg(pgid, signal.SIGKILL)
                await self.sweeper.kill_members()
                await self._wait_exit(10.0)
            await self.sweeper.sweep_all(pgid, max(0.0, deadline - self.clock.monotonic()))
        finally:
            self._stopping = False
        st.pid = None
        st.message = f"stopped by {by}"
        self._change_state(State.STOPPED, by=by, exit_code=st.exit_code, signal=st.signal)
        # debug, not info: the STOPPED event is recorded and shown anyway, and a log record through
        # the rotating JSON handler was half of the daemon's work in `stop all` of 1000 programs
        log.debug("stopped %s by=%s", st.name, by)

    async def _wait_exit(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._exited.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def _sweep_leftovers(self, pgid: int, nonce: str | None) -> None:
        """The leader crashed but processes of its run live on (workers of a killed master, a daemon
        it forked): stop them. In cgroup mode the replacement waits until they are gone, so they do
        not pile up holding ports and memory; the check is one small read, so a crash with nothing
        left respawns at once. In tag mode finding escapees takes a /proc walk, which must not delay
        the respawn: the group is waited for, the run's tagged escapees are swept in the background
        (by nonce, so the replacement is never touched)."""
        left, members = self.sweeper.signal_leftovers(pgid)
        if left:
            self._sweep = asyncio.ensure_future(self.sweeper.sweep_all(pgid, self.spec.stop_timeout))
            self._own_task(self._sweep)
        if members is None and nonce is not None:
            self._own_task(asyncio.ensure_future(self.sweeper.sweep_run(nonce)))

    async def detach(self) -> None:
        """Stop watching without touching the process (procbot exits, programs keep running)."""
        if self.health is not None:
            await self.health.stop()
        self._cancel_restart_timer()
        if self._uptime_timer:
            self._uptime_timer.cancel()
        if self._watcher:
            self._watcher.close()
            self._watcher = None
        if self._popen is not None:
            self._popen.returncode = 0  # not ours to reap any more; silences Popen.__del__
            self._popen = None

    # -- the `signal` command ---------------------------------------------
    def send_signal(self, sig: signal.Signals) -> int:
        """Send ``sig`` to the main process only, as supervisorctl's ``signal`` does (a stop signals the
        whole group); returns its pid. Through the exit watcher's pidfd, so never a recycled pid."""
        st = self.st
        if not st.state.is_up or st.pid is None or self._watcher is None:
            raise NotRunning(f"`{st.name}` is not running (state: {st.state.value}): there is no process to signal.")
        try:
            self._watcher.send_signal(sig)
        except ProcessLookupError:
            raise NotRunning(f"`{st.name}` has just exited: there is no process to signal.") from None
        return st.pid

    def _resolve(self, p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else self.base_dir / path


def _spawn_error_text(spec: ProgramSpec, cwd: str | None, e: BaseException) -> str:
    if isinstance(e, SpawnSettingError):
        return f"cannot start `{spec.name}`: {e}"
    if isinstance(e, FileNotFoundError) and cwd and not Path(cwd).is_dir():
        return f"cannot start `{spec.name}`: working directory {cwd} does not exist"
    if isinstance(e, FileNotFoundError):
        return f"cannot start `{spec.name}`: executable {spec.command[0]!r} not found"
    if isinstance(e, PermissionError) and spec.user is not None:
        where = f"enter {cwd} or run {spec.command[0]!r}" if cwd else f"run {spec.command[0]!r}"
        return f"cannot start `{spec.name}`: permission denied: user {spec.user!r} cannot {where}"
    if isinstance(e, PermissionError):
        return f"cannot start `{spec.name}`: permission denied for {spec.command[0]!r}"
    return f"cannot start `{spec.name}`: {e}"
