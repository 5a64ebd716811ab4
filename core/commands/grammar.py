"""The one command grammar shared by every adapter and the CLI.

``parse("restart group:workers")`` -> ``Command``. The verbs and their typed
arguments are the catalog's (:mod:`core.commands.catalog`); this module turns
words into values by argument kind. Parsing rejects anything that is not
plainly a name, a number or a duration, so nothing odd ever reaches the
supervisor, the registry or a chat message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.commands.catalog import (
    AUDIT_FILTERS,
    AUDIT_OUTCOMES,
    BY_NAME,
    COUNT,
    DURATION,
    FILTERS,
    PROGRAM,
    SIGNAL,
    SIGNALS,
    TARGET,
    TEXT,
    TOPIC,
    Arg,
    Verb,
    lookup,
)
from core.errors import InvalidInput

MAX_TEXT = 4000
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: one instance of a program with ``instances = N`` (core.spec.instances: ``web:2``); not imported from there,
#: so a client call does not load the config models
INSTANCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:(0|[1-9][0-9]{0,2})$")
GLOB_RE = re.compile(r"^[A-Za-z0-9_.*?\[\]:-]{1,68}$")
DURATION_RE = re.compile(r"^(\d+)([smhdw])$", re.ASCII)
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: `--yes` is accepted and changes nothing: a local caller is never asked to confirm, a chat caller always is
FLAGS = frozenset({"--public", "--yes"})


@dataclass(frozen=True)
class Target:
    """What a command acts on: one program, a group, a glob or all."""

    kind: str  # program | group | glob | all
    value: str

    def __str__(self) -> str:
        if self.kind == "group":
            return f"group:{self.value}"
        return self.value


@dataclass(frozen=True)
class Command:
    verb: str
    target: Target | None = None
    args: tuple[str, ...] = ()
    public: bool = False
    #: the normalised text, safe to store in the audit table and show back
    text: str = ""
    extra: dict[str, int | str] = field(default_factory=dict)


def _check_chars(text: str) -> None:
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"Command is too long ({len(text)} characters; the limit is {MAX_TEXT}).")
    for ch in text:
        if ch in "\t":
            continue
        if 0xD800 <= ord(ch) <= 0xDFFF:  # what a non-UTF-8 argv byte becomes: `procbot audit $'\\xff'`
            raise InvalidInput("Command is not valid UTF-8 text; type it as plain text.")
        if ord(ch) < 32 or ord(ch) == 127 or 0x80 <= ord(ch) < 0xA0:
            raise InvalidInput("Command contains control characters; type it as plain text.")


def parse_target(raw: str) -> Target:
    if "@" in raw:  # on a fleet member the router takes host parts off before the grammar sees them
        raise InvalidInput("A host part (`web@web-02`, `-H web-02`) needs a fleet: only a member of one "
                           "(a [cluster] table) reaches other hosts, and this procbot runs alone.")
    if raw == "all":
        return Target("all", "all")
    if raw.startswith("group:"):
        name = raw[len("group:") :]
        if not NAME_RE.match(name):
            raise InvalidInput(f"`{_inert(raw)}` is not a valid group name (letters, digits, `_ . -`).")
        return Target("group", name)
    if NAME_RE.match(raw) or INSTANCE_RE.match(raw):  # `web` (all its instances, if any) or `web:2`
        return Target("program", raw)
    if any(c in raw for c in "*?[") and GLOB_RE.match(raw):
        return Target("glob", raw)
    raise InvalidInput(
        f"`{_inert(raw)}` is not a program name (or instance, `web:2`), `group:NAME`, a glob like `web-*`, or `all`."
    )


def parse_duration(raw: str) -> int:
    m = DURATION_RE.match(raw)
    if not m:
        raise InvalidInput(f"`{_inert(raw)}` is not a duration; use e.g. `30m`, `2h`, `1d`.")
    seconds = int(m.group(1)) * DURATION_UNITS[m.group(2)]
    if seconds <= 0 or seconds > 90 * 86400:
        raise InvalidInput("A duration must be between 1s and 90d.")
    return seconds


def parse_signal(raw: str) -> str:
    """A signal name as the catalog declares it (``HUP``), from ``hup``, ``SIGHUP`` or ``SigHup``.

    Names only: a number means different signals on different systems (10 is USR1 on x86, BUS on
    others), and a name reads back in the audit trail.
    """
    name = raw.upper()
    name = name[3:] if name.startswith("SIG") else name
    if name in SIGNALS:
        return name
    shown = ", ".join(SIGNALS)
    if raw.isascii() and raw.isdigit():
        raise InvalidInput(f"Give the signal by name, not number (`{_inert(raw)}`): one of {shown}.")
    raise InvalidInput(f"`{_inert(raw)}` is not a signal procbot sends; use one of {shown} (SIG prefix optional).")


def _positive_int(raw: str, what: str, limit: int) -> int:
    # ASCII only: "²".isdigit() is True but int("²") raises
    if not (raw.isascii() and raw.isdigit()) or int(raw[:12]) <= 0:
        raise InvalidInput(f"`{_inert(raw)}` is not a positive whole number of {what}.")
    return min(int(raw[:12]), limit)


def _inert(raw: str) -> str:
    """Trim echoed input so an error message can never become a mention or markup."""
    cut = raw[:40] + ("..." if len(raw) > 40 else "")
    cut = "".join(c if c.isprintable() else "?" for c in cut)
    return re.sub(r"[`<>@*_~|&]", "", cut) or "?"


def parse(text: str) -> Command:
    _check_chars(text)
    words = text.split()
    if not words:
        return Command(verb="help", text="help")
    spec = lookup(words[0])
    if spec is None:
        from difflib import get_close_matches

        near = get_close_matches(words[0].lower(), list(BY_NAME), n=2, cutoff=0.6)
        hint = f" Did you mean `{near[0]}`?" if near else ""
        raise InvalidInput(f"Unknown command `{_inert(words[0])}`.{hint} Try `help`.")
    flags = {w for w in words[1:] if w.startswith("--")}
    unknown = flags - FLAGS
    if unknown:
        raise InvalidInput(f"Unknown option `{_inert(sorted(unknown)[0])}`.")
    args = [w for w in words[1:] if not w.startswith("--")]
    if not spec.min_words <= len(args) <= spec.max_words:
        raise InvalidInput(f"Usage: `{spec.usage}`")
    target, extra = _bind(spec, args)
    return Command(
        verb=spec.name,
        target=target,
        args=tuple(args),
        public="--public" in flags,
        text=" ".join([spec.name, *args, *sorted(flags)]),
        extra=extra,
    )


def _bind(spec: Verb, words: list[str]) -> tuple[Target | None, dict[str, int | str]]:
    """Give each declared argument its words, in order, and check them by kind."""
    target: Target | None = None
    extra: dict[str, int | str] = {}
    rest = list(words)
    for i, arg in enumerate(spec.args):
        if arg.kind == TEXT:
            extra[arg.name] = _text(spec, arg, rest)
            rest = []
            continue
        if not rest:
            break
        if arg.kind == FILTERS:
            extra.update(_filters(rest, spec.usage))
            rest = []
        elif arg.kind == COUNT and "=" in rest[0] and any(a.kind == FILTERS for a in spec.args[i + 1:]):
            continue  # an optional count before key=value filters: `audit user=U`
        else:
            word = rest.pop(0)
            if arg.kind in (TARGET, PROGRAM):
                target = parse_target(word)
                if arg.kind == PROGRAM and target.kind != "program":
                    raise InvalidInput(f"`{spec.name}` takes one program name. Usage: `{spec.usage}`")
            else:
                extra[arg.name] = _value(arg, word)
    if rest:
        raise InvalidInput(f"Usage: `{spec.usage}`")
    return target, extra


def _value(arg: Arg, word: str) -> int | str:
    if arg.kind == COUNT:
        return _positive_int(word, arg.unit, arg.limit)
    if arg.kind == DURATION:
        return parse_duration(word)
    if arg.kind == SIGNAL:
        return parse_signal(word)
    if arg.kind == TOPIC:
        if word.lower() not in BY_NAME:
            raise InvalidInput(f"No help for `{_inert(word)}`: not a command.")
        return word.lower()
    raise AssertionError(f"argument kind {arg.kind!r} has no parser")  # a catalog entry this grammar cannot read


def _text(spec: Verb, arg: Arg, words: list[str]) -> str:
    text = " ".join(words)
    if arg.limit and len(text) > arg.limit:
        raise InvalidInput(f"A {spec.name} {arg.name} is limited to {arg.limit} characters.")
    return text


def _filters(args: list[str], usage: str) -> dict[str, int | str]:
    out: dict[str, int | str] = {}
    for word in args:
        key, eq, value = word.partition("=")
        if not eq:
            raise InvalidInput(f"Usage: `{usage}`")
        key = key.lower()
        if key not in AUDIT_FILTERS:
            raise InvalidInput(f"`{_inert(key)}` is not an audit filter; use {', '.join(AUDIT_FILTERS)}.")
        if key in out:
            raise InvalidInput(f"`{key}` is given twice.")
        if key == "since":
            out[key] = parse_duration(value)
        elif key == "page":
            out[key] = _positive_int(value, "pages", 100_000)
        elif key == "outcome":
            if value.lower() not in AUDIT_OUTCOMES:
                raise InvalidInput(f"`{_inert(value)}` is not an outcome; use {', '.join(AUDIT_OUTCOMES)}.")
            out[key] = value.lower()
        else:
            if not (NAME_RE.match(value) or (key == "program" and INSTANCE_RE.match(value))):
                raise InvalidInput(f"`{_inert(value)}` is not a valid {key} (letters, digits, `_ . -`).")
            out[key] = value
    return out
