"""Masks secret-looking values in text that leaves the log file (``logs``, crash alerts, chat, procbot's own log).

One rule set, the only one: procbot's log filter (``bot.secrets``) uses it
too. Rules are tried as one compiled alternation, in the order of
:data:`RULES`, so at any position the more specific shape wins: an
``Authorization: Bearer ...`` header is masked as a header (token and all)
before the generic ``key=value`` rule could mask only the word "Bearer".
Where a shape alone is ambiguous (``bearer`` in prose, ``token: expired``),
a small check decides, so ordinary lines stay as they are. Each rule names
the strings ("hints") any of its matches contains: a text is matched only
against the rules whose hints it holds, so an ordinary line costs a few
substring tests instead of a regex of every rule. The rules were
built against the corpus in ``tests/data/secret_corpus/`` (gitleaks and
detect-secrets rule sets were the model): add a line there before changing
a rule.

Multi-line PEM private keys: text is masked as a whole, so a block from
``BEGIN`` to ``END`` is masked across lines; a block cut by the tail window
is masked to the end of the text, or from the start of the text when only
its ``END`` is in view. Masking never adds or removes a line, so
:func:`mask_lines` can mask a tail as one text and split it again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

MASK = "****"


class Groups(Protocol):
    """A match's groups, by the names the rule's own pattern gives them."""

    def group(self, name: str) -> str: ...


@dataclass(frozen=True)
class Rule:
    """One secret shape. The named group ``s`` is what gets masked (the whole match if there is none)."""

    name: str
    pattern: str
    #: lower-case strings one of which every match contains: a line with none of them skips the rule
    hints: tuple[str, ...]
    #: decides on ambiguous matches: (match, secret text) -> mask it?
    check: Callable[[Groups, str], bool] | None = None
    #: for a shape without a fixed string (Discord tokens): a cheap regex any match contains
    hint_pattern: str | None = None


# -- checks for ambiguous shapes ---------------------------------------------------------

#: words that follow ``token:`` / ``password:`` in prose, not secrets
_PROSE = frozenset({
    "a", "an", "the", "is", "was", "are", "has", "had", "not", "no", "none", "null", "nil", "true", "false", "yes",
    "ok", "okay", "empty", "missing", "invalid", "expired", "expiring", "required", "refused", "rejected", "denied",
    "failed", "failure", "error", "errors", "unknown", "bad", "wrong", "incorrect", "mismatch", "malformed",
    "revoked", "rotated", "refreshed", "renewed", "updated", "changed", "created", "deleted", "removed", "saved",
    "loaded", "found", "set", "unset", "valid", "accepted", "connection", "timeout", "timed", "user", "for", "from",
    "to", "of", "in", "on", "at", "by", "with", "via", "using", "ready", "pending", "disabled", "enabled",
    "redacted", "hidden", "masked", "xxx", "*", "**", "***", "****", "-", "<redacted>", "[redacted]", "<hidden>",
    "[hidden]", "<secret>", "...", "must", "should",
})
#: a key whose last word is one of these names a property of a secret, not the secret
_NOT_SECRET_LAST = frozenset({
    "count", "counts", "size", "len", "length", "limit", "limits", "type", "types", "ttl", "expiry", "expires",
    "expired", "expiration", "expires_at", "bucket", "rate", "file", "path", "dir", "env", "policy", "reset",
    "changed", "required", "enabled", "provided", "set", "endpoint", "url", "uri", "format", "version", "min",
    "max", "age", "timeout", "timeouts", "retries", "attempts", "valid", "validity", "method", "mode", "scope",
    "scopes", "issuer", "audience", "kind", "source", "store", "backend", "manager", "provider", "strategy",
    "field", "service", "server", "middleware", "handler", "module", "client", "controller", "worker", "tokens",
    "strength", "meter", "hint", "prompt", "label", "name", "names",
})
_SENSITIVE_PART = ("password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey",
                   "credential", "authkey", "sessionid", "sessionkey", "cookie")
_SENSITIVE_WORD = frozenset({"pass", "pwd", "auth", "authorization", "sig", "signature", "cred", "creds"})
_NOT_SECRET_KEYS = frozenset({"pwd", "oldpwd"})  # the shell's working directory
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def _secret_key(key: str) -> bool:
    """``DB_PASSWORD``, ``clientSecret``, ``x-api-key`` yes; ``max_tokens``, ``password_policy``, ``PWD`` no."""
    words = [w.lower() for w in _WORDS.findall(key)]
    if not words or key.lower().strip("-") in _NOT_SECRET_KEYS or words[-1] in _NOT_SECRET_LAST:
        return False
    joined = "".join(words)
    return any(p in joined for p in _SENSITIVE_PART) or any(w in _SENSITIVE_WORD for w in words)


def _value(m: Groups, secret: str) -> bool:
    """A value under a secret-looking key, unless it is a prose word (``refresh token: expired``)."""
    return _secret_key(m.group("k")) and bool(secret.strip()) and secret.lower() not in _PROSE


def _tokenish(m: Groups, secret: str) -> bool:
    """A token rather than a word: ``Bearer abc123...`` yes, ``Bearer authentication failed`` no."""
    if len(secret) < 8:
        return False
    return (any(c.isdigit() for c in secret) or any(c in "+/=_-.~" for c in secret)
            or (any(c.isupper() for c in secret[1:]) and any(c.islower() for c in secret)))


def _flag(m: Groups, secret: str) -> bool:
    return _secret_key(m.group("k")) and secret.lower() not in _PROSE


# -- the rules, most specific first --------------------------------------------------------

_KW = r"(?:pass|pwd|secret|token|key|auth|credential|cred|cookie|session|sig)"
_QUOTED = r"\\?\"(?P<s>(?:[^\"\\\n]|\\[^\"\n])*)\\?\"|'(?P<s2>[^'\n]*)'"
_SCHEME = r"(?:(?:bearer|basic|token|bot|digest|negotiate)\s+)?"

_KW_HINTS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "cookie", "session", "sig")
_AWS = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA")
_AWS_ID = r"(?:" + "|".join(_AWS) + r")[0-9A-Z]{16}"

RULES: tuple[Rule, ...] = (
    # PEM private keys, across lines; cut by the tail window at either end
    Rule("pem-private-key",
         r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?P<s>[\s\S]*?)(?=-----END[ A-Z0-9]*PRIVATE KEY|\Z)",
         ("private key",)),
    Rule("pem-private-key-tail", r"\A(?P<s>(?:[A-Za-z0-9+/=]{16,}\n)+)(?=-----END[ A-Z0-9]*PRIVATE KEY)",
         ("private key",)),
    Rule("authorization-header",
         r"(?i)(?<![\w-])[\w-]*authorization[\"']?\s*[:=]\s*[\"']?" + _SCHEME + r"(?P<s>[^\s\"',;]+)",
         ("authorization",)),
    Rule("cookie-header", r"(?i)(?<![\w-])cookie[\"']?\s*:\s*[\"']?(?P<s>[^\s=;\"']+=[^\n\"']*)", ("cookie",)),
    Rule("set-cookie-header", r"(?i)(?<![\w-])set-cookie\s*:\s*[^\s=;]+=(?P<s>[^\s;\"']+)", ("set-cookie",)),
    Rule("url-credentials", r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@\"']*:(?P<s>[^\s/\"']+)@", ("://",)),
    Rule("slack-webhook", r"(?i)\bhooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[\w+/-]+)",
         ("hooks.slack.com/",)),
    Rule("discord-webhook", r"(?i)(?<=/)(?:webhooks|interactions)/(?P<s>\d+/[\w.-]{20,})",
         ("webhooks/", "interactions/")),
    Rule("mysql-password", r"(?<![\w-])(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?[\s\"']-p(?P<s>[^\s\"',]+)",
         ("mysql", "mariadb")),
    Rule("cli-password-arg", r"(?i)(?<![\w-])(?:sshpass\s+-p|redis-cli\b[^\n]*?\s-a)\s+(?P<s>\S+)",
         ("sshpass", "redis-cli")),
    Rule("cli-flag", r"(?i)(?<![\w-])--(?P<k>[\w-]*" + _KW + r"[\w-]*)(?:=|\s+)(?P<s>[^\s\"'-][^\s\"']*)",
         _KW_HINTS, _flag),
    Rule("xml-element", r"(?i)<(?P<k>[\w:-]*" + _KW + r"[\w:-]*)>(?P<s>[^<\n]+)</", _KW_HINTS, _flag),
    Rule("jwt", r"\beyJ[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*", ("eyj",)),
    Rule("slack-token", r"\bxox(?:e\.xox[bp]|[abposre])-[A-Za-z0-9-]{8,}", ("xox",)),
    Rule("slack-app-token", r"\bxapp-[A-Za-z0-9-]{8,}", ("xapp-",)),
    Rule("discord-bot-token", r"\b[MNO][A-Za-z\d_-]{23,27}\.[\w-]{6}\.[\w-]{27,40}\b", (),
         hint_pattern=r"[MNO][\w-]{23,27}\.[\w-]{6}\."),
    Rule("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{22,})",
         ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    Rule("gitlab-token", r"\bgl(?:pat|dt|rt|ptt|cbt|soat|ffct)-[\w-]{20,}",
         ("glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glsoat-", "glffct-")),
    Rule("npm-token", r"\bnpm_[A-Za-z0-9]{30,}", ("npm_",)),
    # the 40-character secret right after an access key id (CSV credential files, printed key pairs); a lookbehind,
    # so it is found even when another rule already masked the id
    Rule("aws-secret-after-key-id",
         r"(?:(?<=" + _AWS_ID + r"[\s:,;|\"'=])|(?<=" + _AWS_ID + r"[\"',:;|=]\s))[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
         tuple(a.lower() for a in _AWS)),
    Rule("aws-access-key-id", r"\b(?:" + "|".join(_AWS) + r")[0-9A-Z]{16}\b", tuple(a.lower() for a in _AWS)),
    Rule("openai-key", r"\bsk-[A-Za-z0-9_-]{16,}", ("sk-",)),
    Rule("stripe-key", r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}", ("k_live_", "k_test_")),
    Rule("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}", ("aiza",)),
    Rule("bearer", r"(?i)\b(?:bearer|basic)\s+(?P<s>[A-Za-z0-9._~+/=-]+)", ("bearer", "basic"), _tokenish),
    # key=value, key: value, "key": "value", key = 'value' (JSON, YAML, env, logfmt, connection strings);
    # any key matches, so a rejected one lets what follows it be masked by the other rules
    Rule("key-value",
         r"(?i)(?<![\w.-])[\"']?(?P<k>[\w.-]+)\\?[\"']?\s*[:=]\s*(?:" + _QUOTED
         + r"|" + _SCHEME + r"(?P<s3>[^\s&,;}\]\"'<>]+))", _KW_HINTS, _value),
)


def _compile(rules: Iterable[Rule]) -> re.Pattern[str]:
    """One alternation of the given rules; each rule's groups renamed ``r<i>_<name>`` so they do not clash."""
    parts = []
    for rule in rules:
        i = RULES.index(rule)
        flags, body = ("i", rule.pattern[4:]) if rule.pattern.startswith("(?i)") else ("", rule.pattern)
        body = re.sub(r"\(\?P<(\w+)>", rf"(?P<r{i}_\1>", body)
        parts.append(f"(?P<r{i}>(?{flags}:{body}))" if flags else f"(?P<r{i}>{body})")
    return re.compile("|".join(parts))


_GROUPS = [re.findall(r"\(\?P<(\w+)>", r.pattern) for r in RULES]
_HINTS = sorted({h for r in RULES for h in r.hints})
_HINT_RULES = {h: tuple(i for i, r in enumerate(RULES) if h in r.hints) for h in _HINTS}
_HINT_PATTERNS = [(re.compile(r.hint_pattern), i) for i, r in enumerate(RULES) if r.hint_pattern]


@lru_cache(maxsize=512)
def _combined(active: frozenset[int]) -> re.Pattern[str]:
    """The alternation of the rules a text may need, in RULES order (few distinct sets occur: cached)."""
    return _compile(r for i, r in enumerate(RULES) if i in active)


def _active(text: str) -> frozenset[int]:
    """Rules whose hint occurs in ``text``: most log lines need none, and a regex of every rule is slow."""
    low = text.lower()
    found = {i for h in _HINTS if h in low for i in _HINT_RULES[h]}
    found.update(i for pat, i in _HINT_PATTERNS if pat.search(text))
    return frozenset(found)


class _GroupView:
    """Lets a rule's check read its own groups by their short names."""

    def __init__(self, m: re.Match[str], i: int) -> None:
        self._m, self._i = m, i

    def group(self, name: str) -> str:
        return self._m.group(f"r{self._i}_{name}") or ""


def _replace(m: re.Match[str], depth: int) -> str:
    name = m.lastgroup
    assert name is not None
    i = int(name[1:])
    rule, names = RULES[i], _GROUPS[i]
    text = m.group(0)
    start = m.start()
    secret_group = next((f"r{i}_{g}" for g in names if g.startswith("s") and m.group(f"r{i}_{g}") is not None), None)
    if secret_group is None:
        if names and any(g.startswith("s") for g in names):
            return text
        return MASK
    secret = m.group(secret_group)
    if rule.check is not None and not rule.check(_GroupView(m, i), secret):
        # not a secret after all; what follows its key (or its scheme word) may still hold one
        a = (m.end(f"r{i}_k") if "k" in names else m.start(secret_group)) - start
        if a <= 0:
            return text
        if depth >= MAX_DEPTH:  # keys nested in values without end (`tokens=tokens=...`): mask, never recurse on
            return text[:a] + MASK
        return text[:a] + _mask(text[a:], depth + 1)
    a, b = m.start(secret_group) - start, m.end(secret_group) - start
    if not secret:
        return text
    masked = "\n".join(MASK if line.strip() else line for line in secret.split("\n")) if "\n" in secret else MASK
    return text[:a] + masked + text[b:]


def mask_secrets(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``****``; never changes the number of lines."""
    return _mask(text, 0)


#: how deep a rejected key's value is searched again for secrets before it is simply masked
MAX_DEPTH = 8


def _mask(text: str, depth: int) -> str:
    active = _active(text)
    return _combined(active).sub(lambda m: _replace(m, depth), text) if active else text


def mask_lines(lines: list[str]) -> list[str]:
    """A log tail masked as one text, so a private key spanning lines is masked whole."""
    if not lines:
        return []
    return mask_secrets("\n".join(lines)).split("\n")
