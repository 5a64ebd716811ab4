"""All programs together: adoption on start-up, target resolution, shutdown.

Each managed program has a :class:`ProgramRunner`; each watched one a
:class:`WatchedProgram`. Their ``ProgramState`` objects form the cache the
scanner refreshes and status replies read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import logging
import os
from collections.abc import Mapping
from difflib import get_close_matches

from core.clock import Clock
from core.commands.grammar import Target
from core.errors import NotFound, ProcbotError, RegistryError
from core.logd.client import ChildOutput, DirectFiles
from core.process.events import EventBus
from core.process.identity import Identity, make_identity
from core.process.order import StartOrder
from core.process.reconcile import Reconciler
from core.process.runner import ProgramRunner
from core.process.sequencer import Sequencer
from core.process.states import ACTIVE_STATES, ProgramState
from core.process.watched import WatchedProgram
from core.spec import Config, ProgramSpec, WatchSpec
from core.spec.instances import family, is_instance
from core.store.registry import Registry
from core.store.run_log import RunLog

log = logging.getLogger(__name__)


def spec_rows(config: Config) -> list[tuple[str, str, str, str | None]]:
    """(name, kind, spec JSON, group) of every configured program: what the registry mirrors."""
    def dump(spec: object) -> str:
        # vars(), not dataclasses.asdict: the specs are frozen, so no deep copy is needed (asdict cost
        # 0.4 ms a program at every start)
        return json.dumps(spec, default=vars, separators=(",", ":"))

    rows = [(p.name, "managed", dump(p), p.group) for p in config.managed]
    return rows + [(w.name, "watched", dump(w), w.group) for w in config.watch]


class Supervisor:
    def __init__(
        self,
        config: Config,
        registry: Registry,
        bus: EventBus,
        clock: Clock,
        environ: Mapping[str, str] | None = None,
        logs: ChildOutput | None = None,
    ) -> None:
        self.config = config
        self.logs = logs or DirectFiles(config.log_dir)
        self.registry = registry
        self.bus = bus
        self.clock = clock
        base_env = os.environ if environ is None else environ
        secret = config.secret_env_names()
        self._base_env = {k: v for k, v in base_env.items() if k not in secret}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reload_lock = asyncio.Lock()  # two reloads at once would both start a changed program
        self.identity: Identity = make_identity(config.state_dir, config.procbot.cgroup)
        self.run_log = RunLog(registry)
        self.runners: dict[str, ProgramRunner] = {}
        self.watched: dict[str, WatchedProgram] = {}
        self.order = StartOrder.of(config)
        self.sequencer = Sequencer(self)
        self._build(config)

    def _build(self, config: Config) -> None:
        self._add(config.managed, config.watch, config)

    def _add(self, programs: list[ProgramSpec], watch: list[WatchSpec], config: Config) -> None:
        """Runners for ``programs`` (instances already expanded) and watchers for ``watch``."""
        for spec in programs:
            env = {**self._base_env, **spec.env}
            self.runners[spec.name] = ProgramRunner(
                spec, run_log=self.run_log, identity=self.identity, bus=self.bus, clock=self.clock,
                log_dir=config.log_dir, base_dir=config.base_dir, env=env, tasks=self._own, logs=self.logs,
                on_ready=self.sequencer.poke,
            )
        for wspec in watch:
            self.watched[wspec.name] = WatchedProgram(wspec, bus=self.bus, clock=self.clock,
                                                      base_dir=config.base_dir)

    def _own(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("supervisor task failed: %s", exc, exc_info=exc)

    # -- queries ---------------------------------------------------------
    def names(self) -> list[str]:
        return [*self.runners, *self.watched]

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for st in self.states():
            if st.group:
                out.setdefault(st.group, []).append(st.name)
        return out

    def state(self, name: str) -> ProgramState:
        if name in self.runners:
            return self.runners[name].st
        if name in self.watched:
            return self.watched[name].st
        raise self._not_found(name)

    def states(self) -> list[ProgramState]:
        return [r.st for r in self.runners.values()] + [w.st for w in self.watched.values()]

    def resolve(self, target: Target) -> list[str]:
        """Program names a target stands for; NotFound (with suggestions) if none."""
        names = self.names()
        if target.kind == "all":
            return names
        if target.kind == "program":
            if target.value in self.runners or target.value in self.watched:
                return [target.value]
            # a program with instances: its name stands for all of them, like a group
            if instances := self.instances_of(target.value):
                return instances
            raise self._not_found(target.value)
        if target.kind == "group":
            groups = self.groups()
            if target.value not in groups:
                near = get_close_matches(target.value, list(groups), n=3)
                raise NotFound(f"No group named `{target.value}`.", [f"group:{g}" for g in near])
            return groups[target.value]
        matched = [n for n in names if fnmatch.fnmatchcase(n, target.value)]
        if not matched:
            raise NotFound(f"No program matches `{target.value}`.")
        return matched

    def instances_of(self, name: str) -> list[str]:
        """``web:0`` ... of a program configured with instances (none for a plain program or an unknown name)."""
        return [n for n in self.runners if is_instance(n) and family(n) == name]

    def _not_found(self, name: str) -> NotFound:
        return NotFound(f"No program named `{name}`.", get_close_matches(name, self.names(), n=3))

    def runner(self, name: str) -> ProgramRunner:
        if name in self.runners:
            return self.runners[name]
        if name in self.watched:
            raise ProcbotError(f"`{name}` is a watched program: procbot does not start or stop it.")
        raise self._not_found(name)

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        """Mirror specs, take over what is alive (found by cgroup or tag, recorded or not), then autostart."""
        self.identity.start(self._leader_pids)
        # the mirror is history only (nothing reads it to supervise): written beside the adoption and the
        # spawns rather than before them, where it was ~10 ms of every cold start's critical path
        mirror = asyncio.ensure_future(self._mirror_specs())
        try:
            adopted = await Reconciler(self).run()
            await self.sequencer.autostart(
                [name for name, r in self.runners.items() if r.spec.autostart and name not in adopted],
                "procbot (autostart)")
        finally:
            await mirror
        await self.run_log.flush()

    async def _mirror_specs(self) -> None:
        try:
            await self.registry.sync_programs(spec_rows(self.config), self.clock.time())
        except RegistryError as e:  # history only: supervision goes on
            log.error("could not mirror the program specs: %s", e)

    async def act(self, verb: str, names: list[str], by: str) -> dict[str, BaseException | None]:
        """start, stop or restart ``names`` in start order (see core.process.sequencer); None: done."""
        seq = self.sequencer
        steps = {"start": seq.start_set, "stop": seq.stop_set, "restart": seq.restart_set}
        return await steps[verb](names, by)

    def _leader_pids(self) -> set[int]:
        """Pids procbot spawned and reaps itself (the orphan reaper leaves them alone)."""
        return {r.st.pid for r in self.runners.values() if r.st.pid is not None and not r.st.adopted}

    def own(self, task: asyncio.Task[None]) -> None:
        """Background work the supervisor awaits at shutdown (the reconciler's stops)."""
        self._own(task)

    async def shutdown(self, stop_programs: bool) -> None:
        await self.sequencer.close()
        if stop_programs:  # dependents first, each dependency once its dependents have stopped
            up = [n for n, r in self.runners.items() if r.st.state in ACTIVE_STATES]
            for name, res in (await self.sequencer.stop_set(up, "procbot (shutdown)")).items():
                if isinstance(res, ProcbotError):
                    log.warning("stop at shutdown of %s: %s", name, res)
        for r in self.runners.values():
            await r.detach()
            if not r.st.state.is_up:
                self.identity.release(r.spec.name)
        for w in self.watched.values():
            w.detach()
        for t in list(self._tasks):
            if not t.done():
                # let in-flight registry writes finish: they record exits
                await asyncio.wait({t}, timeout=2.0)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.run_log.close()
        await self.identity.close()

    async def apply_config(self, new: Config) -> str:
        """Bring programs in line with a new config: add, remove, and restart the changed ones."""
        async with self._reload_lock:
            return await self._apply_config(new)

    async def _apply_config(self, new: Config) -> str:
        old_specs = {r.spec.name: r.spec for r in self.runners.values()}
        old_watch = {w.spec.name: w.spec for w in self.watched.values()}
        new_specs = {p.name: p for p in new.managed}
        new_watch = {w.name: w for w in new.watch}
        removed = [n for n in [*old_specs, *old_watch] if n not in new_specs and n not in new_watch]
        changed = [n for n in old_specs if n in new_specs and not _runs_alike(new_specs[n], old_specs[n])]
        changed += [n for n in old_watch if n in new_watch and new_watch[n] != old_watch[n]]
        added = [n for n in [*new_specs, *new_watch] if n not in old_specs and n not in old_watch]
        for name in old_specs:  # only its place in the start order (or its instance count) changed: no restart
            if name in new_specs and name not in changed:
                self.runners[name].spec = new_specs[name]
        waited = self.sequencer.cancel_waiters()
        going = [n for n in removed + changed if n in self.runners]
        was_up = {n for n in going if self.runners[n].st.state in ACTIVE_STATES}  # a crash loop wants its fix
        # dependents first, in the old order (removed programs are only in it)
        for name, res in (await self.sequencer.stop_set([n for n in going if n in was_up], "procbot (reload)")).items():
            if isinstance(res, ProcbotError):
                log.warning("stop at reload of %s: %s", name, res)
        for name in removed + changed:
            if name in self.runners:
                r = self.runners.pop(name)
                await r.detach()
                if name in removed:
                    self.identity.release(name)
            else:
                self.watched.pop(name).detach()
        self.config = new
        self.order = StartOrder.of(new)
        self._add([new_specs[n] for n in new_specs if n in changed or n in added],
                  [new_watch[n] for n in new_watch if n in changed or n in added], new)
        try:
            await self.registry.sync_programs(spec_rows(new), self.clock.time())
        except RegistryError as e:
            log.error("could not mirror the program specs: %s", e)
        starts = [*(n for n in changed if n in was_up),
                  *(n for n in added if n in new_specs and new_specs[n].autostart),
                  *(n for n in waited if n in new_specs and new_specs[n].autostart)]  # they wait again
        await self.sequencer.autostart(dict.fromkeys(starts), "procbot (reload)")
        parts = [f"{label}: {', '.join(names)}" for label, names in
                 (("added", added), ("removed", removed), ("changed", changed)) if names]
        return "; ".join(parts) or "no program changes"


#: fields that change only when or whether a program starts, not how it runs: a reload keeps it running
_ORDER_ONLY = ("instances", "depends_on", "priority")


def _runs_alike(a: ProgramSpec, b: ProgramSpec) -> bool:
    return dataclasses.replace(a, **{f: getattr(b, f) for f in _ORDER_ONLY}) == b
