"""Every command procbot understands, declared once.

One :class:`Verb` per command: its name and aliases, typed arguments (from
which the usage line is derived), the role it needs, whether it acts on
programs, whether it changes anything, whether it is slow, whether it asks
before acting on several programs, and the handler that carries it out. The
grammar, permissions, dispatcher, ``procbot help``, the CLI, the Discord
command tree and its autocomplete all read this table, and tests check the
README table and the Slack manifest hint against it, so adding a verb is one
entry here plus one handler in ``core.commands.verbs``.

This module is imported by ``procbot status`` before anything else, so it
stays plain: no dataclasses, typing or other imports (dataclasses alone
pulls in inspect, ast and dis: milliseconds at every CLI call that
supervisorctl does not pay). The entries are built once, here, and read
only; ``__slots__`` keeps them from growing attributes by accident.
"""

from __future__ import annotations

MAX_LOG_LINES = 1000
MAX_AUDIT_ROWS = 200
#: `audit` filters, key=value words; `since` is a duration, `page` a page number
AUDIT_FILTERS = ("platform", "user", "program", "outcome", "host", "since", "page")
AUDIT_OUTCOMES = ("ok", "refused", "error", "invalid", "confirm")
#: free text (a silence reason) takes at most this many words; its ``limit`` bounds the characters
MAX_TEXT_WORDS = 62
#: the role ladder, lowest first
ROLES = ("none", "viewer", "operator", "admin")

# argument kinds: what a word must look like, and what Discord offers for it
TARGET = "target"  # a program, group:NAME, a glob or all
PROGRAM = "program"  # exactly one program name
COUNT = "count"  # a positive whole number, capped at the argument's limit
DURATION = "duration"  # 30m, 2h, 1d
TEXT = "text"  # the rest of the words, free text
TOPIC = "topic"  # a verb name
FILTERS = "filters"  # key=value words (the audit filters)
SIGNAL = "signal"  # a signal name from SIGNALS, with or without SIG, any case: HUP, SIGUSR1, term

#: the signals `signal` sends, by name without the SIG prefix. supervisorctl takes any name or number;
#: a declared set means a typo or a bare number is refused instead of becoming a signal nobody meant
SIGNALS = ("HUP", "INT", "QUIT", "ABRT", "KILL", "USR1", "USR2", "ALRM", "TERM", "CONT", "STOP", "TSTP",
           "TTIN", "TTOU", "WINCH", "IO", "PWR")


class Arg:
    """One argument of a verb. ``name`` is also its Discord option name and its key in ``Command.extra``."""

    __slots__ = ("help", "kind", "limit", "name", "required", "unit", "words")

    def __init__(self, name: str, kind: str, *, required: bool = False, help: str = "",
                 limit: int = 0, unit: str = "", words: str = "") -> None:
        self.name = name
        self.kind = kind
        self.required = required
        self.help = help
        self.limit = limit
        #: what a count counts, for the error message ("lines", "entries")
        self.unit = unit
        #: how the usage line shows it, when not ``<name>`` / ``[name]``
        self.words = words

    def usage(self) -> str:
        if self.words:
            return self.words
        return f"<{self.name}>" if self.required else f"[{self.name}]"

    @property
    def max_words(self) -> int:
        if self.kind == TEXT:
            return MAX_TEXT_WORDS
        if self.kind == FILTERS:
            return len(AUDIT_FILTERS)
        return 1


class Verb:
    """One command. ``handler`` is ``"<module in core.commands.verbs>.<function>"``, resolved by the dispatcher."""

    __slots__ = (
        "aliases",
        "args",
        "confirm_when_many",
        "handler",
        "managed_only",
        "may_match_nothing",
        "name",
        "program_scoped",
        "public_flag",
        "read_only",
        "role",
        "slow",
        "summary",
    )

    def __init__(self, name: str, summary: str, *, role: str, handler: str, args: tuple[Arg, ...] = (),
                 aliases: tuple[str, ...] = (), program_scoped: bool = False, read_only: bool = False,
                 slow: bool = False, confirm_when_many: bool = False, managed_only: bool = False,
                 public_flag: bool = False, may_match_nothing: bool = False) -> None:
        self.name = name
        #: one line: `procbot --help`, the Discord subcommand description
        self.summary = summary
        #: the lowest role that may run it (``none``: anyone)
        self.role = role
        self.handler = handler
        self.args = args
        self.aliases = aliases
        #: acts on named programs, so a program-scoped grant can cover it; without a target: every program
        self.program_scoped = program_scoped
        #: changes nothing here or in chat: a local caller's successful use is not audited
        self.read_only = read_only
        #: may take seconds (a chat adapter acknowledges first, answers later)
        self.slow = slow
        #: a chat caller confirms before it acts on more than one program
        self.confirm_when_many = confirm_when_many
        #: only managed programs qualify (a watched program cannot be started and has no log)
        self.managed_only = managed_only
        #: the verb shows a ``--public`` switch (every verb accepts the flag)
        self.public_flag = public_flag
        #: a glob or ``all`` target may match no program yet (a silence for programs to come)
        self.may_match_nothing = may_match_nothing

    @property
    def usage(self) -> str:
        parts = [self.name, *(a.usage() for a in self.args)]
        if self.public_flag:
            parts.append("[--public]")
        return " ".join(parts)

    @property
    def min_words(self) -> int:
        return sum(1 for a in self.args if a.required)

    @property
    def max_words(self) -> int:
        return sum(a.max_words for a in self.args)

    @property
    def one_program(self) -> bool:
        """Takes one ``<program>``: autocomplete offers no ``group:``."""
        return bool(self.args) and self.args[0].kind == PROGRAM


_TARGET_HELP = "a program, group:NAME, a glob like web-* or all"
_PROGRAM_HELP = "a program name"


def _target(required: bool = True) -> Arg:
    return Arg("target", TARGET, required=required, help=_TARGET_HELP)


def _program() -> Arg:
    return Arg("program", PROGRAM, required=True, help=_PROGRAM_HELP)


VERBS: tuple[Verb, ...] = (
    Verb("status", "show programs (like supervisorctl status)", role="viewer", handler="inspect.status",
         args=(_target(required=False),), aliases=("ps", "st"), program_scoped=True, read_only=True,
         public_flag=True),
    Verb("hosts", "the fleet's hosts: up or silent, programs, failing", role="viewer",
         handler="fleet.hosts", read_only=True),
    Verb("start", "start a target: program, group:NAME, glob or all", role="operator", handler="lifecycle.act",
         args=(_target(),), program_scoped=True, slow=True, confirm_when_many=True, managed_only=True),
    Verb("stop", "stop a target", role="operator", handler="lifecycle.act",
         args=(_target(),), program_scoped=True, slow=True, confirm_when_many=True, managed_only=True),
    Verb("restart", "restart a target", role="operator", handler="lifecycle.act",
         args=(_target(),), program_scoped=True, slow=True, confirm_when_many=True, managed_only=True),
    Verb("signal", "send a signal to a target's main process", role="operator",
         handler="signals.signal",
         args=(_target(), Arg("signal", SIGNAL, required=True, help="HUP, USR1, TERM ... (SIG prefix optional)")),
         program_scoped=True, confirm_when_many=True, managed_only=True),
    Verb("logs", "last lines of a program's log", role="viewer", handler="logs.logs",
         args=(_program(), Arg("lines", COUNT, help="how many lines (default from config)", limit=MAX_LOG_LINES,
                               unit="lines")),
         aliases=("log", "tail"), program_scoped=True, read_only=True, managed_only=True),
    Verb("clear", "empty a program's log (like supervisorctl clear)", role="operator", handler="logs.clear",
         args=(_program(),), program_scoped=True, managed_only=True),
    Verb("pid", "a program's main pid, or procbot's own", role="viewer", handler="inspect.pid",
         args=(Arg("program", PROGRAM, help="a program name (none: procbot itself)"),), program_scoped=True,
         read_only=True),
    Verb("info", "details of one program", role="viewer", handler="inspect.info",
         args=(_program(),), program_scoped=True, read_only=True),
    Verb("history", "recent runs of one program", role="viewer", handler="inspect.history",
         args=(_program(), Arg("n", COUNT, help="how many runs", limit=MAX_LOG_LINES, unit="entries")),
         program_scoped=True, read_only=True),
    Verb("silence", "hold alerts for a target for a duration", role="operator", handler="silence.silence",
         args=(_target(), Arg("duration", DURATION, required=True, help="e.g. 30m, 2h, 1d"),
               Arg("reason", TEXT, help="why (shown to others)", limit=200)),
         program_scoped=True, may_match_nothing=True),
    Verb("unsilence", "end a silence", role="operator", handler="silence.unsilence",
         args=(_target(),), program_scoped=True, may_match_nothing=True),
    Verb("silences", "list active silences", role="viewer", handler="silence.silences", read_only=True),
    Verb("digest", "post a status digest now", role="operator", handler="meta.digest", slow=True),
    Verb("audit", "the audit trail, filtered and paged", role="admin", handler="audit.audit",
         args=(Arg("n", COUNT, help="how many entries", limit=MAX_AUDIT_ROWS, unit="entries"),
               Arg("filters", FILTERS,
                   words="[platform=P] [user=ID] [program=NAME] [outcome=O] [host=H] [since=1h] [page=N]")),
         read_only=True),
    Verb("reload", "re-read the config file and apply program changes", role="admin", handler="lifecycle.reload",
         slow=True),
    Verb("whoami", "who procbot thinks you are", role="none", handler="meta.whoami", read_only=True),
    Verb("help", "usage of every command, or of one", role="none", handler="meta.help",
         args=(Arg("command", TOPIC, help="a command to explain"),), read_only=True),
)

BY_NAME: dict[str, Verb] = {v.name: v for v in VERBS}
ALIASES: dict[str, str] = {alias: v.name for v in VERBS for alias in v.aliases}

HELP_NOTE = ("A target is a program, `group:NAME`, a glob like `web-*`, or `all`. "
             "Add `--public` to `status` to show the answer to the channel.")


def lookup(word: str) -> Verb | None:
    """The verb a word names (case-insensitive, aliases included), or None."""
    word = word.lower()
    return BY_NAME.get(ALIASES.get(word, word))


def help_lines(topic: str | None = None) -> list[str]:
    """The usage lines `help` shows: the same text in chat, on the socket and from `procbot help` offline."""
    return [BY_NAME[topic].usage] if topic else [v.usage for v in VERBS]


def slack_usage_hint() -> str:
    """The ``usage_hint`` of /proc in config/slack-manifest.yml: every verb, neighbours with the same arguments joined.

    Key=value filters are left out: the hint is one line in Slack's command menu.
    """
    parts: list[tuple[list[str], str]] = []
    for v in VERBS:
        rest = " ".join(a.usage() for a in v.args if a.kind != FILTERS)
        if parts and rest and parts[-1][1] == rest:
            parts[-1][0].append(v.name)
        else:
            parts.append(([v.name], rest))
    return " | ".join(f"{'|'.join(names)} {rest}".strip() for names, rest in parts)
