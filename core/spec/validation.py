"""Checking a config file's data against the models, with pydantic.

The models (``core.spec``) are plain dataclasses whose fields carry their rules in metadata
(:func:`core.spec.base.setting`); this module is the only one that imports pydantic. It
builds one strict pydantic model per dataclass from those rules, once per process, so the
error locations and messages are pydantic's (``program.1.restart``: "Input should be ...").
The daemon never imports it: ``bot.config_loader`` runs it in a short-lived child.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator
from pydantic import ValidationError as ValidationError  # re-exported: callers catch it from here

from core.spec.base import RULES, holds_nul
from core.spec.config import Config

#: unknown keys are errors (a typo names its key); inf and nan are refused (``grace = inf`` breaks timers)
_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
_FIELD_RULES = tuple(r for r in RULES if r not in ("check", "before"))


def validate_config(data: dict[str, Any]) -> Config:
    """The checked :class:`Config`; pydantic's ValidationError lists what is wrong."""
    model = _models()[Config]
    return _to_spec(model.model_validate(data))


def _no_nul(v: object) -> object:
    if holds_nul(v):
        raise ValueError("may not contain NUL bytes")
    return v


@functools.cache
def _models() -> dict[type, type[BaseModel]]:
    """dataclass -> pydantic model, for every model reachable from Config."""
    out: dict[type, type[BaseModel]] = {}
    _model_for(Config, out)
    return out


def _model_for(cls: type, out: dict[type, type[BaseModel]]) -> type[BaseModel]:
    if cls in out:
        return out[cls]
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        rules = f.metadata
        kind = _translate(hints[f.name], out)
        extras: list[Any] = []
        if "before" in rules:
            extras.append(BeforeValidator(rules["before"]))
        extras.append(Field(**{r: rules[r] for r in _FIELD_RULES if r in rules}))
        if "check" in rules:
            extras.append(AfterValidator(rules["check"]))
        extras.append(AfterValidator(_no_nul))
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=f.default_factory)
        else:
            default = ...
        fields[f.name] = (Annotated[kind, *extras], default)
    validators: dict[str, Any] = {}
    check = getattr(cls, "_check", None)
    if check is not None:
        def _whole(self: BaseModel, _check: Any = check) -> BaseModel:
            _check(self)
            return self
        validators["_check"] = model_validator(mode="after")(_whole)
    model = create_model(cls.__name__, __config__=_STRICT, __doc__=cls.__doc__, __validators__=validators,
                         **fields)
    out[cls] = model
    return model


def _translate(hint: Any, out: dict[type, type[BaseModel]]) -> Any:
    """A dataclass annotation with each nested model replaced by its pydantic model."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _model_for(hint, out)
    origin = typing.get_origin(hint)
    if origin is None or origin is Literal:
        return hint
    args = tuple(_translate(a, out) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return Union[args]  # noqa: UP007  (built from a tuple)
    return origin[args] if len(args) > 1 else origin[args[0]]


def _to_spec(value: Any) -> Any:
    """A validated pydantic model (and what it holds) as the dataclasses it was built from."""
    if isinstance(value, BaseModel):
        cls = _back()[type(value)]
        return cls(**{f.name: _to_spec(getattr(value, f.name)) for f in dataclasses.fields(cls)})
    if isinstance(value, list):
        return [_to_spec(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_spec(v) for k, v in value.items()}
    return value


@functools.cache
def _back() -> dict[type[BaseModel], type]:
    return {m: c for c, m in _models().items()}
