"""What a program's spawn needs beyond its argv: who it runs as, its environment, its limits.

The runner asks :func:`prepare` before each spawn (in a thread when it may block: a user lookup
can go to LDAP, an env file to a network disk) and gets :class:`SpawnArgs`, or a
:class:`~core.errors.SpawnSettingError` naming the setting at fault. ``check-config`` calls the
same functions, so it refuses exactly what a start would.

- **User and groups** go to ``subprocess.Popen``'s own ``user=``, ``group=``, ``extra_groups=`` and
  ``umask=`` (never a ``preexec_fn``). Given ``user`` alone, the group is the user's and the
  supplementary groups are the user's from the group database (what ``initgroups`` and supervisord
  do): Popen left alone would keep procbot's own gid 0 and groups. A setting that changes nothing
  (the user procbot already is) is not passed, so such a spawn keeps CPython's vfork path; a real
  switch makes CPython fork instead (a vfork child must not change credentials the parent shares).
- **Environment**, weakest first: procbot's own (minus its secrets), then ``HOME``/``USER``/``LOGNAME``
  of the configured user (as systemd's ``User=``), then each env file in order, then ``env``.
- **Limits** are set on the child with ``prlimit(2)`` right after the spawn (no ``preexec_fn``, so
  the vfork path stays): the program's first instructions run under procbot's limits, for the
  microseconds until :func:`apply_limits` returns.
"""

from __future__ import annotations

import grp
import os
import pwd
import resource
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import SpawnSettingError
from core.process.env_files import env_files, read_env_file
from core.spec import ProgramSpec
from core.spec.limits import INFINITY, Limit, parse_limits, parse_umask


@dataclass(frozen=True)
class Credentials:
    """Whom the child runs as; None fields are left as procbot's."""

    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] | None = None
    umask: int | None = None
    #: the user's passwd entry when ``user`` was given: HOME, USER and LOGNAME come from it
    name: str | None = None
    home: str | None = None

    def popen_kwargs(self) -> dict[str, Any]:
        """Only what changes something: an unchanged uid passed to Popen would still cost the vfork path."""
        out: dict[str, Any] = {}
        if self.uid is not None and self.uid != os.geteuid():
            out["user"] = self.uid
        if self.gid is not None and self.gid != os.getegid():
            out["group"] = self.gid
        if self.groups is not None and set(self.groups) != set(os.getgroups()):
            out["extra_groups"] = list(self.groups)
        if self.umask is not None:
            out["umask"] = self.umask
        return out

    def identity_env(self) -> dict[str, str]:
        if self.name is None:
            return {}
        return {"USER": self.name, "LOGNAME": self.name, **({"HOME": self.home} if self.home else {})}


@dataclass(frozen=True)
class SpawnArgs:
    env: dict[str, str]
    popen: dict[str, Any] = field(default_factory=dict)
    limits: tuple[Limit, ...] = ()


def blocking(spec: ProgramSpec) -> bool:
    """True when :func:`prepare` may wait on the system (user database, files): run it in a thread."""
    return bool(spec.env_file) or any(x is not None for x in (spec.user, spec.user_group, spec.extra_groups))


def prepare(spec: ProgramSpec, base_dir: Path, env: Mapping[str, str]) -> SpawnArgs:
    """Everything :class:`SpawnArgs` holds; ``env`` is procbot's environment (minus secrets) with ``spec.env``."""
    creds = credentials(spec)
    merged = {**env, **creds.identity_env()}
    for values in file_values(spec, base_dir).values():
        merged.update(values)
    merged.update(spec.env)  # ``env`` wins over every file, and over procbot's own variables
    return SpawnArgs(merged, creds.popen_kwargs(), limits(spec))


def file_values(spec: ProgramSpec, base_dir: Path) -> dict[str, dict[str, str]]:
    """Each env file's variables, by the file as written in the config (missing optional files left out)."""
    out = {}
    for f in env_files(spec.env_file, base_dir):
        values = read_env_file(f)
        if values is not None:
            out[f.written] = values
    return out


def env_origins(spec: ProgramSpec, base_dir: Path) -> list[tuple[str, str]]:
    """(key, where its value comes from) for every variable the config sets: keys only, never values."""
    where: dict[str, str] = {}
    for written, values in file_values(spec, base_dir).items():
        where.update(dict.fromkeys(values, written))
    where.update(dict.fromkeys(spec.env, "env"))
    return sorted(where.items())


# -- user and groups -----------------------------------------------------------
def credentials(spec: ProgramSpec) -> Credentials:
    """The ids the child gets; SpawnSettingError for an unknown name or a switch procbot cannot make."""
    umask = parse_umask(spec.umask) if spec.umask is not None else None
    uid = gid = None
    name = home = None
    groups: tuple[int, ...] | None = None
    if spec.user is not None:
        entry = _passwd(spec.user)
        if entry is None and isinstance(spec.user, str) and not spec.user.isdigit():
            raise SpawnSettingError("user", f"no such user {spec.user!r}")
        uid = entry.pw_uid if entry else int(spec.user)
        if entry is not None:
            gid, name, home = entry.pw_gid, entry.pw_name, entry.pw_dir
        elif spec.user_group is None:
            raise SpawnSettingError("user", f"uid {uid} has no passwd entry: give its group in user_group")
    if spec.user_group is not None:
        gid = _group_id(spec.user_group, "user_group")
    if spec.extra_groups is not None:
        groups = tuple(_group_id(g, "extra_groups") for g in spec.extra_groups)
    elif name is not None and gid is not None:
        groups = tuple(os.getgrouplist(name, gid))
    elif uid is not None:
        groups = ()  # a bare uid: none of procbot's own groups
    if uid is not None and uid == os.geteuid() != 0:  # not root, and already that user: keep our own ids
        gid = None if spec.user_group is None else gid
        groups = None if spec.extra_groups is None else groups
    creds = Credentials(uid, gid, groups, umask, name, home)
    _can_switch(spec, creds)
    return creds


def _passwd(user: str | int) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(user) if isinstance(user, int) else (
            pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user))
    except KeyError:
        return None


def _group_id(g: str | int, key: str) -> int:
    if isinstance(g, int) or g.isdigit():
        return int(g)
    try:
        return grp.getgrnam(g).gr_gid
    except KeyError:
        raise SpawnSettingError(key, f"no such group {g!r}") from None


def _can_switch(spec: ProgramSpec, c: Credentials) -> None:
    """Without root a process can change none of its ids: refuse before the fork, with the reason."""
    euid = os.geteuid()
    if euid == 0:
        return
    who = f"procbot runs as uid {euid}, not root,"
    if c.uid is not None and c.uid != euid:
        raise SpawnSettingError("user", f"{who} and cannot switch to user {spec.user!r} (uid {c.uid}): "
                                        "run procbot as root, or leave user out")
    if c.gid is not None and c.gid != os.getegid() and c.gid not in os.getgroups():
        raise SpawnSettingError("user_group", f"{who} and cannot switch to group {spec.user_group or c.gid!r} "
                                              f"(gid {c.gid})")
    if c.groups is not None and set(c.groups) != set(os.getgroups()):
        key = "extra_groups" if spec.extra_groups is not None else "user"
        raise SpawnSettingError(key, f"{who} and cannot set supplementary groups")


def closed_to(path: Path, c: Credentials) -> Path | None:
    """The first folder on the way to ``path``, or ``path`` itself, that the child's user may not search
    (a folder) or execute (a file), by the mode bits; None when it may. Symlinks: both ways are walked.

    For ``check-config``: procbot checks as itself (os.access is its own ids), so a cwd it can enter
    may still be closed to ``nobody``. ACLs are not read; a path they open is reported closed.
    """
    uid = os.geteuid() if c.uid is None else c.uid
    if uid == 0:
        return None
    gids = {os.getegid() if c.gid is None else c.gid, *(os.getgroups() if c.groups is None else c.groups)}
    given, real = path.absolute(), path.resolve()
    for d in [*reversed(given.parents), *reversed(real.parents), real]:
        try:
            st = d.stat()
        except OSError:
            return d
        bits = (stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid in gids else stat.S_IXOTH)
        if not st.st_mode & bits:
            return d
    return None


# -- limits ----------------------------------------------------------------------
def limits(spec: ProgramSpec) -> tuple[Limit, ...]:
    """The configured limits; SpawnSettingError for one procbot cannot grant (above its own hard limit)."""
    try:
        parsed = parse_limits(spec.limits)
    except ValueError as e:  # the config check refused it already; only a hand-built spec gets here
        raise SpawnSettingError("limits", str(e)) from None
    root = os.geteuid() == 0
    for lim in parsed:
        ceiling = _ceiling(lim, root)
        if ceiling is not None and _above(lim.hard, ceiling[0]):
            raise SpawnSettingError(f"limits.{lim.name}", f"{lim.describe()} is above {ceiling[1]}")
    return parsed


def _above(v: int, ceiling: int) -> bool:
    """``v > ceiling`` where either may be RLIM_INFINITY (which Python spells -1)."""
    if ceiling == INFINITY:
        return False
    return v == INFINITY or v > ceiling


def _ceiling(lim: Limit, root: bool) -> tuple[int, str] | None:
    """The highest hard limit procbot can set, and why, or None when there is none to respect."""
    if lim.name == "nofile":
        try:
            nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            nr_open = None
        if root:
            return (nr_open, f"the kernel's fs.nr_open ({nr_open})") if nr_open else None
    if root:
        return None
    hard = resource.getrlimit(lim.resource)[1]
    shown = Limit(lim.name, lim.resource, hard, hard).describe().removeprefix(f"{lim.name} ")
    return hard, f"procbot's own hard limit ({shown}); only root can raise a hard limit"


def apply_limits(pid: int, wanted: tuple[Limit, ...]) -> None:
    """Set each limit on the running child (``prlimit(2)``); OSError if the kernel refuses one."""
    for lim in wanted:
        resource.prlimit(pid, lim.resource, (lim.soft, lim.hard))


# -- what ``info`` shows ---------------------------------------------------------
#: an env file of hundreds of keys would flood a chat message; the rest are counted
MAX_KEYS_SHOWN = 60


def describe(spec: ProgramSpec, base_dir: Path) -> list[tuple[str, str]]:
    """(label, text) lines for ``info``: user, umask, limits, env files and the keys they set, never a value.

    Blocking (user lookups, env files): call it in a thread when :func:`blocking` says so.
    """
    out: list[tuple[str, str]] = []
    if any(x is not None for x in (spec.user, spec.user_group, spec.extra_groups, spec.umask)):
        try:
            out.append(("Runs as", _describe_credentials(spec, credentials(spec))))
        except SpawnSettingError as e:
            out.append(("Runs as", f"cannot start: {e}"))
    if spec.limits:
        try:
            out.append(("Limits", ", ".join(lim.describe() for lim in parse_limits(spec.limits))))
        except ValueError as e:
            out.append(("Limits", str(e)))
    if spec.env_file:
        out.append(("Env files", ", ".join(spec.env_file) + " (read at each start)"))
    if spec.env_file or spec.env:
        try:
            keys = [f"{k} ({src})" for k, src in env_origins(spec, base_dir)]
            more = f" and {len(keys) - MAX_KEYS_SHOWN} more" if len(keys) > MAX_KEYS_SHOWN else ""
            out.append(("Environment", ", ".join(keys[:MAX_KEYS_SHOWN]) + more
                        + "; plus procbot's own environment without its secrets"))
        except SpawnSettingError as e:
            out.append(("Environment", f"cannot start: {e}"))
    return out


def _describe_credentials(spec: ProgramSpec, c: Credentials) -> str:
    parts = []
    if c.uid is not None:
        parts.append(f"user {c.name or spec.user} (uid {c.uid})")
    if c.gid is not None:
        parts.append(f"group {_group_name(c.gid)} (gid {c.gid})")
    if c.groups is not None:
        parts.append("groups " + (", ".join(_group_name(g) for g in c.groups) or "none"))
    if c.umask is not None:
        parts.append(f"umask {c.umask:04o}")
    return "; ".join(parts)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
