"""[cluster]: refused with the file and the key named; absent, nothing changes; secrets never in the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config_loader import load_config
from bot.fleet.credentials import cluster_credentials
from core.errors import ConfigError
from tests.helpers import assert_refused


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "procbot.toml"
    p.write_text(f'[procbot]\nstate_dir = "{tmp_path}/state"\n' + body)
    return p


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('[cluster]\nhost = "web.02"\n', "cluster.host", "pattern"),
        ('[cluster]\nhost = "web-*"\n', "cluster.host", "pattern"),
        ('[cluster]\nurl = "http://nats:4222"\n', "cluster.url", "not a NATS server URL"),
        ('[cluster]\nservers = "nats://x:4222"\n', "cluster.servers", "unknown key"),
        ('[cluster]\ntoken_env = "T"\nuser = "u"\npassword_env = "P"\n', "cluster", "one way to authenticate"),
        ('[cluster]\nuser = "u"\n', "cluster", "password_env or password_file"),
        ('[cluster]\nheartbeat_interval = 10.0\nheartbeat_ttl = 5.0\n', "cluster", "longer than"),
        ('[cluster]\ntoken_file = "missing.token"\n', "cluster.token_file", "does not exist"),
        ('[cluster]\ncreds_file = "missing.creds"\n', "cluster.creds_file", "does not exist"),
        ('[cluster]\ntls = { cert_file = "c.pem" }\n', "cluster.tls", "both cert_file and key_file"),
    ],
)
def test_a_bad_cluster_table_is_refused_naming_the_file_and_the_key(tmp_path, body, key, problem):
    assert_refused(write(tmp_path, body), key, problem)


def test_without_a_cluster_table_there_is_no_fleet(tmp_path):
    assert load_config(write(tmp_path, "")).cluster is None


def test_a_token_comes_from_its_file_and_is_never_shown(tmp_path):
    (tmp_path / "nats.token").write_text("s3cret-token-value\n")
    config = load_config(write(tmp_path, '[cluster]\nhost = "web-01"\ntoken_file = "nats.token"\n'))
    assert config.cluster is not None
    creds = cluster_credentials(config.cluster, config, {})
    assert creds.options["token"] == "s3cret-token-value"
    assert "s3cret" not in repr(creds)
    assert "s3cret" not in repr(config)


def test_a_password_env_variable_is_kept_from_the_programs(tmp_path):
    config = load_config(write(tmp_path, '[cluster]\nuser = "web-01"\npassword_env = "NATS_PASS"\n'))
    assert "NATS_PASS" in config.secret_env_names()
    assert config.cluster is not None
    assert cluster_credentials(config.cluster, config, {"NATS_PASS": "pw-123456"}).options["password"] == "pw-123456"


def test_a_missing_password_variable_names_the_key(tmp_path):
    config = load_config(write(tmp_path, '[cluster]\nuser = "web-01"\npassword_env = "NATS_PASS"\n'))
    assert config.cluster is not None
    with pytest.raises(ConfigError) as err:
        cluster_credentials(config.cluster, config, {})
    assert err.value.key == "cluster.password_env"
