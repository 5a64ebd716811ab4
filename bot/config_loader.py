"""Reads the TOML file into a validated :class:`Config`.

Errors name the file, the key (``program[web].restart``) and what is wrong,
so an operator can fix it without reading a traceback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.errors import ConfigError
from core.spec import Config

ENV_VAR = "PROCBOT_CONFIG"
DEFAULT_PATHS = ("procbot.toml", "/etc/procbot/procbot.toml")


def find_config(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    for p in DEFAULT_PATHS:
        if Path(p).exists():
            return Path(p)
    raise ConfigError("procbot.toml", "", f"no configuration file: pass -c FILE or set {ENV_VAR}")


def load_config(path: Path) -> Config:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file does not exist") from None
    except OSError as e:
        raise ConfigError(str(path), "", f"cannot read: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), "", "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), "", f"not valid TOML: {e}") from None
    return config_from_dict(data, str(path))


def config_from_dict(data: dict[str, Any], source: str) -> Config:
    if "source" in data:
        raise ConfigError(source, "source", "unknown key")
    try:
        return Config.model_validate({**data, "source": source})
    except ValidationError as e:
        first = e.errors()[0]
        raise ConfigError(source, _key(first["loc"], data), _problem(first)) from None


def _key(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """``('program', 1, 'restart')`` -> ``program[web].restart`` using the entry's name when it has one."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            name = None
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("name")
            parts[-1] += f"[{name}]" if isinstance(name, str) else f"[{item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            if item.startswith(("function-after", "function-before", "list[")):
                continue
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def _problem(err: Any) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")
