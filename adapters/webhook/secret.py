"""Where a webhook's signing secret comes from: a file or an environment variable, never the config.

The secret is read when procbot starts (and by ``check-config``); it is kept
only in memory, handed to the log redactor, and never written anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from core.errors import ConfigError
from core.spec import Config, WebhookSpec

log = logging.getLogger(__name__)


def secret_key(spec: WebhookSpec) -> str:
    """The config key a secret problem is reported under: ``webhook[pager].secret_file``."""
    return f"webhook[{spec.name}].{'secret_file' if spec.secret_file else 'secret_env'}"


def load_secret(config: Config, spec: WebhookSpec, environ: Mapping[str, str]) -> str | None:
    """The signing secret; None when the webhook is unsigned or its variable is unset.

    A ``secret_file`` that cannot be used (missing, unreadable, empty, not
    text) raises :class:`ConfigError` naming the key: a webhook meant to be
    signed must never go out unsigned.
    """
    if spec.secret_env:
        return environ.get(spec.secret_env) or None
    if not spec.secret_file:
        return None
    path = config.resolve(spec.secret_file)

    def bad(problem: str) -> ConfigError:
        return ConfigError(config.source, secret_key(spec), f"{path}: {problem}")

    try:
        if not path.is_file():
            raise bad("does not exist" if not path.exists() else "not a file")
        text = path.read_bytes().decode("utf-8").strip()
        mode = path.stat().st_mode
    except OSError as e:
        raise bad(f"cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise bad("not UTF-8 text") from None
    if not text:
        raise bad("is empty")
    if any(ord(c) < 32 for c in text):
        raise bad("holds a line break or control character (the file holds the secret alone)")
    if mode & 0o077:
        log.warning("webhook secret file %s is readable by others; chmod 600 it", path)
    return text


def secret_problems(config: Config) -> list[tuple[str, str]]:
    """(key, problem) for every secret file ``run`` could not read."""
    out = []
    for spec in config.webhook:
        try:
            load_secret(config, spec, {})
        except ConfigError as e:
            out.append((e.key, e.problem))
    return out
