"""Where tokens come from, and how they are kept out of logs and children.

Tokens come from environment variables or a token file the config names,
never from the config itself. Every secret loaded is registered with the
:class:`SecretRedactor` so no log line can carry it.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping

from adapters.slack.secrets import SlackSecrets
from core.errors import ConfigError
from core.redact import mask_secrets
from core.spec import Config, DiscordSettings, SlackSettings


def _token_file(config: Config, name: str | None, section: str) -> dict[str, str]:
    """The token file's keys; ConfigError naming ``<section>.token_file`` for anything unusable."""
    if not name:
        return {}
    path = config.resolve(name)
    key = f"{section}.token_file"

    def bad(problem: str) -> ConfigError:
        return ConfigError(config.source, key, f"{path}: {problem}")

    try:
        if not path.is_file():
            raise bad("does not exist" if not path.exists() else "not a file")
        raw = path.read_bytes()
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except OSError as e:
        raise bad(f"cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise bad("not UTF-8 text (a token file is TOML: token = \"...\")") from None
    except tomllib.TOMLDecodeError as e:
        raise bad(f"not valid TOML: {e}") from None
    for k, v in data.items():
        if not isinstance(v, str):
            raise bad(f"{k} must be a string")
        if "\x00" in v or any(ord(c) < 32 for c in v.strip()):
            raise bad(f"{k} holds a NUL or control character")
    if path.stat().st_mode & 0o077:
        logging.getLogger(__name__).warning("token file %s is readable by others; chmod 600 it", path)
    return {k: v.strip() for k, v in data.items()}


def slack_secrets(settings: SlackSettings, config: Config, environ: Mapping[str, str]) -> SlackSecrets | None:
    """Returns None when the credentials are absent (the adapter is then not started)."""
    from_file = _token_file(config, settings.token_file, "slack")
    bot = from_file.get("bot_token") or environ.get(settings.bot_token_env)
    app = from_file.get("app_token") or environ.get(settings.app_token_env)
    signing = from_file.get("signing_secret") or environ.get(settings.signing_secret_env)
    if not bot:
        return None
    if settings.mode == "socket" and not app:
        return None
    if settings.mode == "http" and not signing:
        return None
    return SlackSecrets(bot_token=bot, app_token=app, signing_secret=signing)


def discord_token(settings: DiscordSettings, config: Config, environ: Mapping[str, str]) -> str | None:
    from_file = _token_file(config, settings.token_file, "discord")
    return from_file.get("token") or environ.get(settings.token_env) or None


class SecretRedactor(logging.Filter):
    """Masks known secrets, then every secret-looking value (the one rule set in ``core.redact``), in every record."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self._secrets: list[str] = [s for s in (secrets or []) if s and len(s) >= 6]

    def add(self, *secrets: str | None) -> None:
        self._secrets.extend(s for s in secrets if s and len(s) >= 6)

    def redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "[redacted]")
        return mask_secrets(text)

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = self.redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True
