"""The host part of a fleet target: ``web@web-02``, ``group:workers@web-*``, ``all@*``, ``silences @db-1``.

A program name can hold no ``@`` (the grammar's name pattern), so the last
``@`` of a word always starts a host part. The command text handed on to the
host is the same text with the host part removed: the host's own grammar,
permissions and audit see exactly what they see for a local command.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from core.errors import InvalidInput

#: a host name, or a glob over host names (the names themselves follow subjects.HOST_RE)
HOST_GLOB_RE = re.compile(r"^[A-Za-z0-9_*?\[\]-]{1,64}$")


@dataclass(frozen=True)
class HostedCommand:
    text: str
    #: host name or glob, None = no host part (this host, as without a fleet)
    hosts: str | None

    @property
    def is_glob(self) -> bool:
        return self.hosts is not None and any(c in self.hosts for c in "*?[")

    def matching(self, known: list[str]) -> list[str]:
        if self.hosts is None:
            return []
        if not self.is_glob:
            return [self.hosts]
        return [h for h in known if fnmatch.fnmatchcase(h, self.hosts)]


def split_host(text: str) -> HostedCommand:
    """Take the host part off a command; InvalidInput for two host parts or an impossible host name."""
    words = text.split()
    host: str | None = None
    out: list[str] = []
    for i, word in enumerate(words):
        if i == 0 or "@" not in word or word.startswith("--"):
            out.append(word)
            continue
        name, _, part = word.rpartition("@")
        if host is not None:
            raise InvalidInput("Give one host part (`@host`) per command.")
        if not HOST_GLOB_RE.match(part):
            raise InvalidInput(f"`{part[:64]}` is not a host name or host glob (letters, digits, `-`, `_`, `*`).")
        host = part
        if name:
            out.append(name)
    return HostedCommand(" ".join(out), host)
