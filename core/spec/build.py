"""A checked config rebuilt from its JSON form, without pydantic.

``bot.config_loader`` checks the file in a child process (``core.spec.validation``) and
receives the result as JSON (``dataclasses.asdict``); this turns it back into the models.
Nothing is re-checked here: the data was produced by a validated :class:`Config`.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Union

from core.spec.config import Config


def config_from_checked(data: dict[str, Any]) -> Config:
    return _build(Config, data)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = _hints(hint)
        return hint(**{k: _build(hints[k], v) for k, v in value.items()})
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _build(inner[0], value) if len(inner) == 1 else value
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_build(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: _build(item, v) for k, v in value.items()}
    return value
