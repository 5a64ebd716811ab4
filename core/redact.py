"""Masks secret-looking values in text that leaves the host (log tails in chat and alerts)."""

from __future__ import annotations

import re

_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]{8,}"),
    re.compile(r"xapp-[A-Za-z0-9-]{8,}"),
    re.compile(r"[MN][A-Za-z\d]{23,27}\.[\w-]{6}\.[\w-]{27,40}"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}\b"),
]
_KEY_VALUE = re.compile(
    r"(?i)\b([\w.-]*(?:password|passwd|secret|token|api[_-]?key|apikey|auth|credential)[\w.-]*)"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
_URL_CREDS = re.compile(r"(\w+://[^\s:/@]+:)[^\s@/]+(@)")


def mask_secrets(text: str) -> str:
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}****", text)
    text = _URL_CREDS.sub(r"\1****\2", text)
    for pat in _PATTERNS:
        text = pat.sub("****", text)
    return text
