"""A program's ``env_file`` entries: dotenv files read with python-dotenv's own parser.

Decisions, each made here once:

- **Parser**: ``dotenv.parser.parse_stream``, the parser behind ``dotenv_values``, so quoting,
  ``export``, comments and multi-line values mean what they mean for python-dotenv. A binding it
  flags as an error is refused with its file and line (python-dotenv itself only logs a warning and
  drops the line, which would start a program with a variable silently missing).
- **No interpolation**: ``$HOME`` and ``${TOKEN}`` stay as written (``dotenv_values(interpolate=False)``,
  like systemd's ``EnvironmentFile=``). Interpolation would expand against procbot's own environment,
  which holds the chat tokens a child must never see.
- **A key with no ``=``** (``DEBUG`` alone) is refused: python-dotenv reads it as "no value" and drops
  it, docker reads it as "copy from the host"; either is a surprise. ``DEBUG=`` sets it empty.
- **Optional files**: a leading ``-`` (systemd's ``EnvironmentFile=-/path``) lets the file be missing;
  one that exists must still parse.
- **Errors never quote a line**: the line of an env file may be a secret; messages give file and line.

Files are read by procbot, not by the program, so a root-owned 0600 file works for a program that
runs as ``nobody``. Reading is blocking: the runner calls this in a thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import SpawnSettingError

#: an env file is a few lines; a bigger one is a mistake (a binary, a log) we refuse rather than read
MAX_BYTES = 1 << 20
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NEWLINE = re.compile(r"\r\n|\n|\r")


@dataclass(frozen=True)
class EnvFile:
    path: Path
    optional: bool
    #: as written in the config (``-.env``): what ``info`` and messages show
    written: str


def env_files(entries: list[str], base_dir: Path) -> list[EnvFile]:
    """The config's entries as paths (relative ones from the config file's folder)."""
    out = []
    for entry in entries:
        optional = entry.startswith("-")
        p = Path(entry.removeprefix("-")).expanduser()
        out.append(EnvFile(p if p.is_absolute() else base_dir / p, optional, entry))
    return out


def read_env_file(f: EnvFile) -> dict[str, str] | None:
    """The file's variables in order; None for an optional file that is missing.

    SpawnSettingError (key ``env_file``) names the file and, for a line that does not parse, the line.
    """
    from dotenv.parser import parse_stream  # only programs that have env files pay for the import

    text = _read(f)
    if text is None:
        return None
    import io

    out: dict[str, str] = {}
    for b in parse_stream(io.StringIO(text)):
        line = _line_of(b.original.string, b.original.line)
        if b.error:
            raise SpawnSettingError("env_file", f"{f.path} line {line}: not a KEY=value line")
        if b.key is None:  # a blank line or a comment
            continue
        if not _NAME.match(b.key):
            raise SpawnSettingError("env_file", f"{f.path} line {line}: {b.key!r} is not a valid "
                                                "environment variable name")
        if b.value is None:
            raise SpawnSettingError("env_file", f"{f.path} line {line}: {b.key} has no value "
                                                f"(write {b.key}= for an empty one)")
        if "\x00" in b.value:
            raise SpawnSettingError("env_file", f"{f.path} line {line}: the value of {b.key} holds a NUL byte")
        out[b.key] = b.value
    return out


def _read(f: EnvFile) -> str | None:
    try:
        with open(f.path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        if f.optional:
            return None
        raise SpawnSettingError("env_file", f"{f.path} does not exist (write -{f.written} if it may be "
                                            "missing)") from None
    except IsADirectoryError:
        raise SpawnSettingError("env_file", f"{f.path} is a directory, not an env file") from None
    except OSError as e:
        raise SpawnSettingError("env_file", f"{f.path} cannot be read: {e.strerror}") from None
    if len(data) > MAX_BYTES:
        raise SpawnSettingError("env_file", f"{f.path} is larger than {MAX_BYTES >> 20} MiB; an env file "
                                            "holds a few variables")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise SpawnSettingError("env_file", f"{f.path} line {line}: not UTF-8 text") from None


def _line_of(original: str, mark_line: int) -> int:
    """The line a binding's text starts on: python-dotenv marks where the blank lines before it began."""
    lead = original[:len(original) - len(original.lstrip())]
    return mark_line + len(_NEWLINE.findall(lead))
