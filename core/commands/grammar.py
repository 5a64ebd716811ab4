"""The one command grammar shared by every adapter and the CLI.

``parse("restart group:workers")`` -> ``Command``. Parsing rejects anything
that is not plainly a name, a number or a duration, so nothing odd ever
reaches the supervisor, the registry or a chat message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.errors import InvalidInput

MAX_TEXT = 4000
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
GLOB_RE = re.compile(r"^[A-Za-z0-9_.*?\[\]-]{1,64}$")
DURATION_RE = re.compile(r"^(\d+)([smhdw])$", re.ASCII)
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_LOG_LINES = 1000

# verb -> (min args, max args, usage)
VERBS: dict[str, tuple[int, int, str]] = {
    "status": (0, 1, "status [target] [--public]"),
    "start": (1, 1, "start <target>"),
    "stop": (1, 1, "stop <target>"),
    "restart": (1, 1, "restart <target>"),
    "logs": (1, 2, "logs <program> [lines]"),
    "info": (1, 1, "info <program>"),
    "history": (1, 2, "history <program> [n]"),
    "silence": (2, 64, "silence <target> <duration> [reason]"),
    "unsilence": (1, 1, "unsilence <target>"),
    "silences": (0, 0, "silences"),
    "digest": (0, 0, "digest"),
    "audit": (0, 7, "audit [n] [platform=P] [user=ID] [program=NAME] [outcome=O] [since=1h] [page=N]"),
    "reload": (0, 0, "reload"),
    "whoami": (0, 0, "whoami"),
    "help": (0, 1, "help [command]"),
}
#: one line per verb for `procbot --help` (the usage above is the other half of `help`)
SUMMARIES: dict[str, str] = {
    "status": "show programs (like supervisorctl status)",
    "start": "start a target: program, group:NAME, glob or all",
    "stop": "stop a target",
    "restart": "restart a target",
    "logs": "last lines of a program's log",
    "info": "details of one program",
    "history": "recent runs of one program",
    "silence": "hold alerts for a target for a duration",
    "unsilence": "end a silence",
    "silences": "list active silences",
    "digest": "post a status digest now",
    "audit": "the audit trail, filtered and paged",
    "reload": "re-read the config file and apply program changes",
    "whoami": "who procbot thinks you are",
    "help": "usage of every command, or of one",
}
#: verbs that change nothing, here or in chat: a local caller's successful use of them is not audited
READ_ONLY_VERBS = frozenset({"status", "logs", "info", "history", "silences", "audit", "whoami", "help"})
#: `audit` filters, key=value words; `since` is a duration, `page` a page number
AUDIT_FILTERS = ("platform", "user", "program", "outcome", "since", "page")
AUDIT_OUTCOMES = ("ok", "refused", "error", "invalid", "confirm")
MAX_AUDIT_ROWS = 200
FLAGS = frozenset({"--public", "--yes"})
ALIASES = {"ps": "status", "st": "status", "log": "logs", "tail": "logs"}


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
    yes: bool = False
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
    if raw == "all":
        return Target("all", "all")
    if raw.startswith("group:"):
        name = raw[len("group:") :]
        if not NAME_RE.match(name):
            raise InvalidInput(f"`{_inert(raw)}` is not a valid group name (letters, digits, `_ . -`).")
        return Target("group", name)
    if NAME_RE.match(raw):
        return Target("program", raw)
    if any(c in raw for c in "*?[") and GLOB_RE.match(raw):
        return Target("glob", raw)
    raise InvalidInput(
        f"`{_inert(raw)}` is not a program name, `group:NAME`, a glob like `web-*`, or `all`."
    )


def parse_duration(raw: str) -> int:
    m = DURATION_RE.match(raw)
    if not m:
        raise InvalidInput(f"`{_inert(raw)}` is not a duration; use e.g. `30m`, `2h`, `1d`.")
    seconds = int(m.group(1)) * DURATION_UNITS[m.group(2)]
    if seconds <= 0 or seconds > 90 * 86400:
        raise InvalidInput("A duration must be between 1s and 90d.")
    return seconds


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
    verb = words[0].lower()
    verb = ALIASES.get(verb, verb)
    if verb not in VERBS:
        from difflib import get_close_matches

        near = get_close_matches(verb, list(VERBS), n=2, cutoff=0.6)
        hint = f" Did you mean `{near[0]}`?" if near else ""
        raise InvalidInput(f"Unknown command `{_inert(words[0])}`.{hint} Try `help`.")
    flags = {w for w in words[1:] if w.startswith("--")}
    unknown = flags - FLAGS
    if unknown:
        raise InvalidInput(f"Unknown option `{_inert(sorted(unknown)[0])}`.")
    args = [w for w in words[1:] if not w.startswith("--")]
    lo, hi, usage = VERBS[verb]
    if not lo <= len(args) <= hi:
        raise InvalidInput(f"Usage: `{usage}`")
    target: Target | None = None
    extra: dict[str, int | str] = {}
    if verb in {"status", "start", "stop", "restart", "unsilence", "silence"} and args:
        target = parse_target(args[0])
    elif verb in {"logs", "info", "history"}:
        target = parse_target(args[0])
        if target.kind != "program":
            raise InvalidInput(f"`{verb}` takes one program name. Usage: `{usage}`")
        if len(args) == 2:
            key = "lines" if verb == "logs" else "n"
            extra[key] = _positive_int(args[1], "lines" if verb == "logs" else "entries", MAX_LOG_LINES)
    elif verb == "audit" and args:
        extra.update(_audit_args(args, usage))
    elif verb == "help" and args:
        if args[0].lower() not in VERBS:
            raise InvalidInput(f"No help for `{_inert(args[0])}`: not a command.")
        extra["topic"] = args[0].lower()
    if verb == "silence":
        extra["seconds"] = parse_duration(args[1])
        reason = " ".join(args[2:])
        if len(reason) > 200:
            raise InvalidInput("A silence reason is limited to 200 characters.")
        extra["reason"] = reason
    normal = " ".join([verb, *args, *sorted(flags)])
    return Command(
        verb=verb,
        target=target,
        args=tuple(args),
        public="--public" in flags,
        yes="--yes" in flags,
        text=normal,
        extra=extra,
    )


def _audit_args(args: list[str], usage: str) -> dict[str, int | str]:
    out: dict[str, int | str] = {}
    for i, word in enumerate(args):
        key, eq, value = word.partition("=")
        if not eq:
            if i != 0:
                raise InvalidInput(f"Usage: `{usage}`")
            out["n"] = _positive_int(word, "entries", MAX_AUDIT_ROWS)
            continue
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
            if not NAME_RE.match(value):
                raise InvalidInput(f"`{_inert(value)}` is not a valid {key} (letters, digits, `_ . -`).")
            out[key] = value
    return out


def usage(verb: str) -> str:
    return VERBS[verb][2]


def help_lines(topic: str | None = None) -> list[str]:
    """The usage lines `help` shows: the same text in chat, on the socket and from `procbot help` offline."""
    verbs = [topic] if topic else list(VERBS)
    return [VERBS[v][2] for v in verbs]


HELP_NOTE = ("A target is a program, `group:NAME`, a glob like `web-*`, or `all`. "
             "Add `--public` to `status` to show the answer to the channel.")
