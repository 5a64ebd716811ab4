"""``procbot run``: the foreground daemon, its start-up and graceful shutdown."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TextIO

# Everything start-up needs once the config is checked is imported here, while the checker child
# works (``bot.cli`` forks it first): the extensions and the fleet wiring, and what
# ``Checking.result`` runs (the machine checks, the rebuild from JSON). Imported after the
# check, they were ~80 ms of every cold start's critical path.
import bot.config_check  # Checking.result
import bot.schedule_check  # noqa: F401  (run_problems)
import core.spec.build  # noqa: F401  (Checking.result)
from bot.app import App
from bot.config_loader import Checking, load_config_isolated
from bot.control_server import ControlLimits, ControlServer
from bot.extensions import install_extensions
from bot.fleet.install import install_fleet
from bot.logging_setup import setup_logging
from bot.platforms import secret_values
from bot.secrets import SecretRedactor
from bot.state_dir import ensure_state_dir, socket_path
from core.errors import ConfigError, ProcbotError

log = logging.getLogger("procbot.daemon")


class AlreadyRunningDaemon(ProcbotError):
    code = "daemon_running"


def _lock(state_dir: Path) -> int:
    """One daemon per state directory: a second one would spawn duplicates."""
    fd = os.open(state_dir / "procbot.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunningDaemon(f"another procbot is already running with state directory {state_dir}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


async def serve(config_path: Path, out: TextIO | None = None, checking: Checking | None = None) -> int:
    out = out or sys.stdout
    config = await asyncio.to_thread(checking.result if checking else lambda: load_config_isolated(config_path))
    ensure_state_dir(config.state_dir, str(config.source))  # before anything (the log) creates it
    redactor = SecretRedactor(secret_values(config, os.environ))
    setup_logging(config.state_dir, config.procbot.log_level, redactor)
    lock_fd = _lock(config.state_dir)
    app = App(config, console_out=out)
    alerting = install_extensions(app)
    fleet = install_fleet(app, alerting=alerting)  # None without [cluster]: nothing changes
    if fleet is not None:
        redactor.add(*fleet.secrets)
    # a front's control socket reaches the fleet too (`procbot status @web-02`)
    control = ControlServer(socket_path(config.state_dir), fleet.commands if fleet else app.dispatcher,
                            ControlLimits())
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        task = asyncio.create_task(_reload(app))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        names = ", ".join(app.supervisor.names()) or "none"
        out.write(f"procbot on {app.host}: {len(app.supervisor.names())} programs ({names})\n"
                  f"  config  {config.source}\n  state   {config.state_dir}\n"
                  f"  try     procbot -c {config.source} status   (Ctrl-C stops procbot)\n")
        out.flush()
        await app.start()
        await control.start()
        log.info("procbot started pid=%d programs=%d", os.getpid(), len(app.supervisor.names()))
        await stop.wait()
        out.write("procbot stopping...\n")
        out.flush()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await asyncio.gather(*reloads, return_exceptions=True)
        await control.stop()
        await app.stop()
        os.close(lock_fd)
        log.info("procbot stopped")
    return 0


async def _reload(app: App) -> None:
    try:
        summary = await app.reload()
        log.info("reloaded: %s", summary)
    except ConfigError as e:
        log.error("reload refused: %s", e)
    except ProcbotError as e:
        log.error("reload failed: %s", e)


def run(config_path: Path, checking: Checking | None = None) -> int:
    try:
        return asyncio.run(serve(config_path, checking=checking))
    except ConfigError as e:
        print(f"procbot: {e}", file=sys.stderr)
        return 2
    except ProcbotError as e:
        print(f"procbot: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # the machine changed after the config check (a directory made read-only, ...)
        print(f"procbot: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 1
