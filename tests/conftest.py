"""Shared fixtures: a real procbot App on a real SQLite file in a temp dir."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config_loader import config_from_dict

PY = sys.executable
SLEEPER = [PY, "-c", "import time\nwhile True: time.sleep(3600)"]


def sleeper(tag: str = "") -> list[str]:
    """A long-running python program; ``tag`` makes its command line unique."""
    return [PY, "-c", f"import time  # {tag}\nwhile True: time.sleep(3600)"]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk honours HTTP(S)_PROXY and ignores NO_PROXY: loopback fakes must be reached directly
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


MakeApp = Callable[..., Awaitable[App]]


@pytest.fixture
async def make_app(tmp_path: Path) -> AsyncIterator[MakeApp]:
    """``await make_app(programs=[...], permissions={...}, **sections)`` -> a started App.

    Chat adapters are not started unless ``with_adapters=True`` (tests build
    them against fake servers themselves). Every App made is stopped (and its
    programs with it) at teardown.
    """
    apps: list[App] = []

    async def factory(
        programs: list[dict[str, Any]] | None = None,
        *,
        watch: list[dict[str, Any]] | None = None,
        permissions: dict[str, Any] | None = None,
        procbot: dict[str, Any] | None = None,
        environ: dict[str, str] | None = None,
        state_dir: Path | None = None,
        clock: Any = None,
        start: bool = True,
        with_adapters: bool = False,
        **sections: Any,
    ) -> App:
        data: dict[str, Any] = {
            "procbot": {"state_dir": str(state_dir or tmp_path / "state"), "scan_interval": 0.5,
                        "host_name": "testhost", **(procbot or {})},
            "program": programs or [],
            "watch": watch or [],
        }
        if permissions is not None:
            data["permissions"] = permissions
        data.update(sections)
        config = config_from_dict(data, str(tmp_path / "procbot.toml"))
        app = App(config, clock=clock, environ=environ if environ is not None else dict(os.environ),
                  console_out=io.StringIO(), with_adapters=with_adapters)
        apps.append(app)
        if start:
            await app.start()
        return app

    yield factory
    failures: list[BaseException] = []
    for app in reversed(apps):
        if app.registry._db is not None:
            try:
                await app.stop(stop_programs=True)
            except Exception as e:  # noqa: BLE001 - stop the other Apps' programs too, then re-raise
                failures.append(e)
    _kill_unadopted_runs(apps)
    if failures:
        raise failures[0]


def _kill_unadopted_runs(apps: list[App]) -> None:
    """Programs left running by an App stopped with stop_programs=False and never adopted again."""
    import signal
    import sqlite3

    from core.process import procfs

    for db in {app.config.state_dir / "procbot.db" for app in apps}:
        if not db.exists():
            continue
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT pid, start_ticks FROM runs WHERE ended_at IS NULL").fetchall()
        for pid, ticks in rows:
            if procfs.is_alive(pid, ticks):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
