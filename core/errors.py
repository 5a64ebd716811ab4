"""procbot's error hierarchy.

Every error carries a message written for the person who typed the command
(a chat user or an operator at the terminal), so a boundary can show
``str(err)`` as it is. Boundaries log each error once, with context.
"""

from __future__ import annotations


class ProcbotError(Exception):
    """Base of every error procbot raises on purpose."""

    #: short machine-readable code, stable across versions (used in JSON replies)
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(ProcbotError):
    """The command text or its arguments are malformed."""

    code = "invalid_input"


class NotFound(ProcbotError):
    """A program, group or other named thing does not exist."""

    code = "not_found"

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        self.suggestions = list(suggestions or [])
        if self.suggestions:
            message = f"{message} Did you mean: {', '.join(self.suggestions)}?"
        super().__init__(message)


class AlreadyRunning(ProcbotError):
    code = "already_running"


class NotRunning(ProcbotError):
    code = "not_running"


class DependencyNotReady(ProcbotError):
    """A start refused (or given up) because a program it depends on (``depends_on``) is not ready."""

    code = "dependency_not_ready"


class Unauthorized(ProcbotError):
    """The actor lacks the role this command needs."""

    code = "unauthorized"


class HostsRefused(Unauthorized):
    """A fleet command for hosts the actor may not act on (refused at the front, nothing sent)."""

    def __init__(self, message: str, hosts: list[str]) -> None:
        super().__init__(message)
        #: the target hosts that are not allowed (the audit row names them)
        self.hosts = hosts


class SpawnFailed(ProcbotError):
    """The OS refused to start the program (missing executable, bad cwd, ...)."""

    code = "spawn_failed"


class SpawnSettingError(SpawnFailed):
    """A program's user, env file or limit cannot be applied here (no such user, a file that does not parse).

    ``key`` is the setting at fault (``user``, ``env_file``, ``limits.nofile``): ``check-config`` names it as
    ``program[web].<key>``, a start that meets it at run time says it in the program's spawn error.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class ConfirmationExpired(ProcbotError):
    code = "confirmation_expired"


class ConfigError(ProcbotError):
    """Configuration is unusable; names the file and the key."""

    code = "config_error"

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {problem}")


class RegistryError(ProcbotError):
    """The SQLite registry failed (disk full, corrupt file, locked)."""

    code = "registry_error"


class DeliveryError(ProcbotError):
    """A chat platform refused or failed to take a message."""

    code = "delivery_error"

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Busy(ProcbotError):
    """procbot is serving as many control clients as it allows; the caller may retry shortly."""

    code = "busy"


class RequestTimeout(ProcbotError):
    """A control-socket client did not send a complete request in time."""

    code = "timeout"


class ConfigProblems(ConfigError):
    """Every problem found in one config file, one ``file: key: problem`` line each (the first is ``key``)."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(path, problems[0][0], problems[0][1])
        self.problems = list(problems)
        self.message = "\n".join(f"{path}: {k}: {p}" if k else f"{path}: {p}" for k, p in problems)
        self.args = (self.message,)


class RegistryUnavailable(RegistryError):
    """The registry can be neither read nor stood in for right now (a read that needs the file)."""

    code = "registry_unavailable"


class IllegalTransition(ProcbotError):
    """A program was asked to make a state move the transitions table does not allow: a procbot bug.

    Raised (and logged) instead of assigning, like supervisord's ``_assertInState``, so a wrong move is
    loud where it happens instead of showing up later as a status nobody can explain.
    """

    code = "illegal_transition"

    def __init__(self, program: str, old: str, new: str) -> None:
        super().__init__(f"procbot bug: `{program}` cannot go from {old} to {new}; please report it.")
        self.program, self.old, self.new = program, old, new


class FleetUnavailable(ProcbotError):
    """The fleet link (NATS) is down, so a command for another host cannot be sent."""

    code = "fleet_down"


class HostOffline(ProcbotError):
    """Nothing serves commands for that host right now (NATS answered "no responders")."""

    code = "host_offline"


class HostTimeout(ProcbotError):
    """A host took the command but did not reply within the fleet's request timeout."""

    code = "host_timeout"
