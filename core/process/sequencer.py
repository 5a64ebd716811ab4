"""Carrying out the start order (:mod:`core.process.order`): starts that wait, stops that go in reverse.

What happens when a dependency is not ready:

- **autostart and reload** (nobody is waiting for an answer): the dependent waits, shown in
  ``status`` as stopped, "waiting for db", for as long as it takes; it starts the moment every
  dependency is ready, whoever brought it up. Programs that do not depend on it are not held up.
- **a command** (``start``, ``restart``): a dependency that is part of the same command is waited
  for, and a dependent whose dependency failed to come up is not started ("db did not come up"); one
  still coming up after :data:`COMMAND_WAIT` leaves the dependent waiting, as at autostart;
  a dependency outside the command that is starting (or itself waiting) is waited for the same way,
  and one that is neither ready nor on its way refuses the start with a clear error, like "web
  starts after db, which is stopped: start db first". procbot never starts a program nobody asked for.
- **stops** (``stop``, shutdown, reload, the first half of ``restart``): dependents are stopped, and
  their stop awaited, before what they depend on. A dependency stopped on its own leaves its
  dependents running.

Readiness changes are heard from the event bus (one subscription, taken only when some program
waits); nothing polls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from core.errors import AlreadyRunning, DependencyNotReady, NotFound, ProcbotError
from core.process.events import ProgramEvent
from core.process.order import is_ready
from core.process.states import STARTED_STATES, ProgramState
from core.spec.instances import family

if TYPE_CHECKING:
    from core.process.supervisor import Supervisor

log = logging.getLogger(__name__)

Outcome = dict[str, BaseException | None]
#: how long a command waits for a dependency to become ready, before it answers and leaves the dependent
#: waiting in the background (a dependency that fails ends the wait at once). Well inside the CLI's 60 s
#: (bot.control_client.TIMEOUT), with room for the stops of a `restart all` before it
COMMAND_WAIT = 30.0


def _names(programs: Iterable[str]) -> str:
    """Dependencies as the config names them: `db`, not db:0, db:1, db:2."""
    return ", ".join(dict.fromkeys(family(p) for p in programs))


class Sequencer:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        #: programs waiting (autostart, reload) for their dependencies -> the task that starts them
        self.waiting: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()
        self._queue: asyncio.Queue[ProgramEvent] | None = None
        self._pump: asyncio.Task[None] | None = None

    # -- hearing of changes ---------------------------------------------
    def _listen(self) -> None:
        if self._pump is None:
            self._queue = self.sup.bus.subscribe()
            self._pump = asyncio.ensure_future(self._relay(self._queue))
            self.sup.own(self._pump)

    async def _relay(self, queue: asyncio.Queue[ProgramEvent]) -> None:
        while True:
            await queue.get()
            while not queue.empty():
                queue.get_nowait()
            self.poke()

    def poke(self) -> None:
        """Something that readiness depends on changed: every waiting start looks again."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _state(self, name: str) -> ProgramState | None:
        try:
            return self.sup.state(name)
        except NotFound:  # removed by a reload
            return None

    async def wait_ready(self, names: tuple[str, ...] | list[str], *,
                         give_up: Callable[[str, ProgramState], bool] | None = None,
                         note: Callable[[list[str]], None] | None = None) -> str | None:
        """Wait until all ``names`` are ready; None then, or the first whose state made ``give_up`` true."""
        shown: list[str] | None = None
        while True:
            changed = self._changed  # taken before looking: a change after the look still wakes us
            pending = [n for n in names if (st := self._state(n)) is None or not is_ready(st)]
            if not pending:
                return None
            for n in pending:
                st = self._state(n)
                if st is None or (give_up is not None and give_up(n, st)):
                    return n
            if note is not None and pending != shown:
                note(pending)
                shown = pending
            self._listen()
            await changed.wait()

    # -- autostart: dependents wait as long as it takes --------------------
    async def autostart(self, names: Iterable[str], by: str) -> None:
        """Start ``names`` now, side by side in priority order; those with dependencies not ready yet wait."""
        order = self.sup.order
        now: list[str] = []
        for n in order.sorted(names):
            deps = order.starts_after(n)
            if deps and not all((st := self._state(d)) is not None and is_ready(st) for d in deps):
                self._wait_then_start(n, by)
            else:
                now.append(n)
        results = await asyncio.gather(*(self.sup.runners[n].start(by, automatic=True) for n in now),
                                       return_exceptions=True)
        for res in results:
            if isinstance(res, ProcbotError):
                log.error("autostart failed: %s", res)
            elif isinstance(res, BaseException):
                raise res

    def _wait_then_start(self, name: str, by: str) -> None:
        self.cancel_waiter(name)
        task = asyncio.ensure_future(self._waiter(name, by))
        self.waiting[name] = task
        self.sup.own(task)
        task.add_done_callback(lambda t: self.waiting.pop(name, None) if self.waiting.get(name) is t else None)

    async def _waiter(self, name: str, by: str) -> None:
        st = self.sup.state(name)

        def note(pending: list[str]) -> None:
            st.message = f"waiting for {_names(pending)}"
            log.info("%s waits for %s", name, _names(pending))

        await self.wait_ready(self.sup.order.starts_after(name), note=note)
        self.waiting.pop(name, None)
        try:
            await self.sup.runners[name].start(by, automatic=True)
        except AlreadyRunning:
            pass  # started by hand meanwhile
        except ProcbotError as e:
            log.error("start of %s after its dependencies failed: %s", name, e)

    def cancel_waiter(self, name: str) -> bool:
        task = self.waiting.pop(name, None)
        if task is None:
            return False
        task.cancel()
        return True

    def cancel_waiters(self) -> list[str]:
        """Stop every wait (reload, shutdown); the names that were waiting."""
        names = list(self.waiting)
        for n in names:
            self.cancel_waiter(n)
        return names

    async def close(self) -> None:
        self.cancel_waiters()
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
            self._pump = None
        if self._queue is not None:
            self.sup.bus.unsubscribe(self._queue)
            self._queue = None

    # -- commands: an answer, never an endless wait -------------------------
    def _coming(self, name: str, st: ProgramState, seen: frozenset[str] = frozenset()) -> bool:
        """On its way to ready without anyone acting: starting, or waiting for dependencies that are coming."""
        if st.state in STARTED_STATES:
            return True
        if name not in self.waiting or name in seen:
            return False
        for d in self.sup.order.starts_after(name):
            dst = self._state(d)
            if dst is None or not (is_ready(dst) or self._coming(d, dst, seen | {name})):
                return False
        return True

    def _refusal(self, name: str, chosen: set[str]) -> DependencyNotReady | None:
        """Why ``name`` may not start: a dependency outside the command is neither ready nor coming."""
        for d in self.sup.order.starts_after(name):
            st = self._state(d)
            if d not in chosen and (st is None or not (is_ready(st) or self._coming(d, st))):
                what = "gone" if st is None else st.state.value + (f", {st.message}" if st.message else "")
                return DependencyNotReady(
                    f"`{name}` starts after `{family(d)}`, which is {what}: start `{family(d)}` first, "
                    "or both in one command.")
        return None

    async def start_set(self, names: list[str], by: str) -> Outcome:
        chosen = set(names)
        order = self.sup.order
        tasks: dict[str, asyncio.Future[None]] = {}

        async def one(n: str) -> None:
            if (refused := self._refusal(n, chosen)) is not None:
                raise refused
            deps = order.starts_after(n)
            inside = [d for d in deps if d in chosen]
            if inside:
                await asyncio.gather(*(tasks[d] for d in inside), return_exceptions=True)
            # started by this command, or (outside it) on their way: see _refusal
            pending = [d for d in deps if d in chosen or not is_ready(self.sup.state(d))]
            if pending:
                try:
                    failed = await asyncio.wait_for(
                        self.wait_ready(pending, give_up=lambda d, st: not self._coming(d, st)), COMMAND_WAIT)
                except TimeoutError:  # up but not ready (a health check not passing yet): the answer cannot wait
                    self._wait_then_start(n, by)
                    raise DependencyNotReady(f"`{n}` waits for {_names(pending)}, not ready after "
                                             f"{COMMAND_WAIT:g} s; it starts once they are.") from None
                if failed is not None:
                    st = self._state(failed)
                    raise DependencyNotReady(f"`{n}` was not started: `{family(failed)}` did not come up"
                                             + (f" ({st.state.value})." if st else "."))
            self.cancel_waiter(n)
            await self.sup.runner(n).start(by)

        return await _all({n: one for n in order.sorted(names)}, tasks)

    async def stop_set(self, names: list[str], by: str) -> Outcome:
        chosen = set(names)
        order = self.sup.order
        tasks: dict[str, asyncio.Future[None]] = {}

        async def one(n: str) -> None:
            first = [m for m in order.stops_after(n) if m in chosen]
            if first:
                await asyncio.gather(*(tasks[m] for m in first), return_exceptions=True)
            if self.cancel_waiter(n):
                self.sup.state(n).message = f"stopped by {by}"  # it was not running: it no longer waits
                return
            await self.sup.runner(n).stop(by)

        return await _all({n: one for n in reversed(order.sorted(names))}, tasks)

    async def restart_set(self, names: list[str], by: str) -> Outcome:
        chosen = set(names)
        refused: Outcome = {n: r for n in names if (r := self._refusal(n, chosen)) is not None}
        rest = [n for n in names if n not in refused]
        if not self.sup.order.linked(rest):  # nothing waits for anything: each restarts on its own
            return {**refused, **await _all({n: self._restart_one(by) for n in self.sup.order.sorted(rest)}, {})}
        # dependents stop first, then everything starts in order (each after what it depends on)
        up = [n for n in rest if (st := self._state(n)) is not None and st.state.is_up]
        stopped = await self.stop_set(up, by)
        failed = {n: e for n, e in stopped.items() if e is not None}
        started = await self.start_set([n for n in rest if n not in failed], by)
        return {n: {**refused, **failed, **started}.get(n) for n in names}

    def _restart_one(self, by: str) -> Callable[[str], Awaitable[None]]:
        async def one(n: str) -> None:
            self.cancel_waiter(n)
            await self.sup.runner(n).restart(by)
        return one


async def _all(steps: dict[str, Callable[[str], Awaitable[None]]], tasks: dict[str, asyncio.Future[None]]) -> Outcome:
    """Run each step as its own task (in the dict's order, so they are spawned in it); what each ended with.

    ``tasks`` is filled before any step runs, so a step may await another's task. Cancelled (the
    daemon stops mid-command), every step is cancelled with it.
    """
    for n, step in steps.items():
        tasks[n] = asyncio.ensure_future(step(n))
    try:
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    except asyncio.CancelledError:
        for t in tasks.values():
            t.cancel()
        raise
    return {n: asyncio.CancelledError() if t.cancelled() else t.exception() for n, t in tasks.items()}
