"""What an offline daemon never loads: OpenSSL stays out unless the config can reach the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.startup_memory import OFFLINE_TABLES, needs_tls
from tests.daemon_harness import Daemon, cli, write_config


def _openssl_mapped(pid: int) -> list[str]:
    with open(f"/proc/{pid}/maps") as f:
        return sorted({line.split()[-1] for line in f if "libssl" in line or "_ssl." in line or "libcrypto" in line})


def test_a_daemon_with_no_network_service_configured_never_loads_openssl(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "\n"
                                 '[[program]]\nname = "nap"\ncommand = ["sleep", "3600"]\n\n'
                                 '[[alerts.route]]\nto = ["console"]\n')
    daemon = Daemon(cfg)
    try:
        daemon.wait_ready(1)
        assert _openssl_mapped(daemon.proc.pid) == []
    finally:
        daemon.stop()


@pytest.mark.parametrize("table", sorted(OFFLINE_TABLES))
def test_an_offline_table_alone_needs_no_tls(table: str) -> None:
    assert not needs_tls({table: {}})


def test_a_health_check_over_http_tcp_or_a_command_needs_no_tls() -> None:
    checks = [{"http": "http://127.0.0.1:8080/healthz"}, {"tcp": "127.0.0.1:5432"}, {"command": ["true"]}]
    assert not needs_tls({"program": [{"name": f"p{i}", "health": h} for i, h in enumerate(checks)]})


@pytest.mark.parametrize("data", [
    {"slack": {}},
    {"discord": {}},
    {"a_table_added_later": {}},
    {"alerts": {"route": [{"to": ["console", "slack:C1"]}]}},
    {"digest": [{"name": "daily", "cron": "0 9 * * *", "to": ["discord:123"]}]},
    {"program": [{"name": "web", "health": {"http": "https://127.0.0.1:8443/healthz"}}]},
], ids=["slack", "discord", "unknown-table", "alert-to-a-chat", "digest-to-a-chat", "https-health-check"])
def test_a_config_that_can_reach_the_network_keeps_tls(data: dict[str, object]) -> None:
    assert needs_tls(data)


def _maps_pydantic(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return any("pydantic" in line for line in f)


def test_the_daemon_checks_its_config_without_ever_loading_pydantic(tmp_path: Path) -> None:
    """pydantic (about 20 MiB resident) checks the file in a child that exits; the daemon runs on dataclasses."""
    cfg = write_config(tmp_path, "\n"
                                 '[[program]]\nname = "nap"\ncommand = ["sleep", "3600"]\n')
    daemon = Daemon(cfg)
    try:
        daemon.wait_ready(1)
        assert not _maps_pydantic(daemon.proc.pid)
    finally:
        daemon.stop()


def test_a_reload_checks_the_new_file_without_loading_pydantic_either(tmp_path: Path) -> None:
    body = '[[program]]\nname = "nap"\ncommand = ["sleep", "3600"]\n'
    cfg = write_config(tmp_path, "\n" + body)
    daemon = Daemon(cfg)
    try:
        daemon.wait_ready(1)
        cfg.write_text(cfg.read_text() + body.replace('"nap"', '"nap2"'))
        assert cli(cfg, "reload").returncode == 0
        assert "nap2" in cli(cfg, "status").stdout
        assert not _maps_pydantic(daemon.proc.pid)
    finally:
        daemon.stop()
