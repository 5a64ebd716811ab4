"""``[cluster]`` credentials: read from a file or an environment variable, never from the config.

The values go to nats-py's ``connect`` and to the log redactor, nowhere else:
:class:`ClusterCredentials` prints as ``<redacted>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from core.spec import ClusterSettings, Config

if TYPE_CHECKING:
    import ssl  # loaded only to build a TLS context: an offline single host never loads OpenSSL

#: the config keys that name a file procbot must read before joining the fleet
_FILE_KEYS = ("password_file", "token_file", "nkey_seed_file", "creds_file")
_TLS_KEYS = ("ca_file", "cert_file", "key_file")


@dataclass(frozen=True)
class ClusterCredentials:
    options: dict[str, Any] = field(default_factory=dict)
    #: secret strings to register with the log redactor
    secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return "ClusterCredentials(<redacted>)"


def fleet_host(config: Config) -> str:
    """This host's name in the fleet: [cluster].host, else procbot.host_name, else the hostname."""
    return config.host()


def cluster_problems(config: Config) -> list[tuple[str, str]]:
    """(key, problem) for each [cluster] file ``run`` could not read, and a host name NATS cannot carry."""
    c = config.cluster
    if c is None:
        return []
    out: list[tuple[str, str]] = []
    for key in _FILE_KEYS:
        problem = _file_problem(config, getattr(c, key))
        if problem:
            out.append((f"cluster.{key}", problem))
    if c.tls is not None:
        for key in _TLS_KEYS:
            problem = _file_problem(config, getattr(c.tls, key))
            if problem:
                out.append((f"cluster.tls.{key}", problem))
    if c.host is None:
        from core.fleet.subjects import host_problem

        problem = host_problem(fleet_host(config))
        if problem:
            out.append(("cluster.host", f"{problem}; set cluster.host"))
    return out


def _file_problem(config: Config, name: str | None) -> str | None:
    if name is None:
        return None
    path = config.resolve(name)
    if not path.is_file():
        return f"{path}: {'does not exist' if not path.exists() else 'not a file'}"
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        return f"{path}: cannot read: {e.strerror}"
    return None


def _read(config: Config, key: str, name: str) -> str:
    path = config.resolve(name)
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(config.source, f"cluster.{key}", f"{path}: cannot read: {e}") from None
    if not text:
        raise ConfigError(config.source, f"cluster.{key}", f"{path}: is empty")
    return text


def _env(config: Config, environ: Mapping[str, str], key: str, name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(config.source, f"cluster.{key}", f"the environment variable {name} is not set")
    return value


def cluster_credentials(settings: ClusterSettings, config: Config, environ: Mapping[str, str]) -> ClusterCredentials:
    """Keyword arguments for ``nats.connect`` with the one way to authenticate the config names."""
    # replies to this member's requests come back under its own name, so a server config can let each
    # host read its own replies and nobody else's (config/nats-server.conf: `_INBOX.<host>.>`)
    opts: dict[str, Any] = {"servers": [u.strip() for u in settings.url.split(",")],
                            "inbox_prefix": f"_INBOX.{fleet_host(config)}"}
    secrets: list[str] = []
    if settings.user is not None:
        opts["user"] = settings.user
        if settings.password_file:
            opts["password"] = _read(config, "password_file", settings.password_file)
        else:
            assert settings.password_env is not None
            opts["password"] = _env(config, environ, "password_env", settings.password_env)
        secrets.append(opts["password"])
    elif settings.token_file or settings.token_env:
        if settings.token_file:
            opts["token"] = _read(config, "token_file", settings.token_file)
        else:
            assert settings.token_env is not None
            opts["token"] = _env(config, environ, "token_env", settings.token_env)
        secrets.append(opts["token"])
    elif settings.nkey_seed_file:
        opts["nkeys_seed"] = str(config.resolve(settings.nkey_seed_file))
    elif settings.creds_file:
        opts["user_credentials"] = str(config.resolve(settings.creds_file))
    if settings.tls is not None:
        opts["tls"] = _tls_context(settings, config)
    return ClusterCredentials(opts, tuple(secrets))


def _tls_context(settings: ClusterSettings, config: Config) -> ssl.SSLContext:
    import ssl

    tls = settings.tls
    assert tls is not None
    ctx = ssl.create_default_context(cafile=str(config.resolve(tls.ca_file)) if tls.ca_file else None)
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(str(config.resolve(tls.cert_file)), str(config.resolve(tls.key_file)))
    return ctx
