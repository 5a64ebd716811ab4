"""The one secret-masking rule set, measured against a corpus of real-looking log lines.

``tests/data/secret_corpus/leaks.txt`` holds lines that carry a secret (marked
with « »); ``ordinary.txt`` holds lines that must come out exactly as they went
in. The test counts both kinds of mistake and prints the counts.
"""

from __future__ import annotations

import re
import time

from core.redact import MASK, RULES, mask_lines, mask_secrets
from tests.helpers import REPO

CORPUS = REPO / "tests" / "data" / "secret_corpus"
MARKED = re.compile(r"«(.*?)»")


def _lines(name: str) -> list[str]:
    text = (CORPUS / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _leaked(secret: str, masked: str) -> bool:
    """True if any run of the secret long enough to matter (6 chars, or all of a shorter one) is still there."""
    secret = secret.replace("\\n", "\n")
    n = min(6, len(secret))
    return any(secret[i:i + n] in masked for i in range(len(secret) - n + 1)
               if secret[i:i + n].strip() and "-----" not in secret[i:i + n])


def test_the_secret_corpus_has_no_leak_and_no_false_positive(capsys):
    leaks = []
    for marked in _lines("leaks.txt"):
        secrets = MARKED.findall(marked)
        assert secrets, f"corpus line without a «secret»: {marked}"
        line = MARKED.sub(r"\1", marked)
        masked = mask_secrets(line)
        if any(_leaked(s, masked) for s in secrets) or MASK not in masked:
            leaks.append(f"{line}\n   -> {masked}")
    false_positives = [f"{line}\n   -> {mask_secrets(line)}" for line in _lines("ordinary.txt")
                       if mask_secrets(line) != line]
    with capsys.disabled():
        print(f"\nsecret corpus: {len(_lines('leaks.txt'))} secret lines, {len(leaks)} leaks; "
              f"{len(_lines('ordinary.txt'))} ordinary lines, {len(false_positives)} false positives")
    assert not leaks, "leaked:\n" + "\n".join(leaks)
    assert not false_positives, "masked an ordinary line:\n" + "\n".join(false_positives)


def test_a_bearer_header_is_masked_whole_not_only_the_word_bearer():
    masked = mask_secrets("Authorization: Bearer abcdef0123456789abcdef")
    assert "abcdef0123456789" not in masked and "Authorization: Bearer" in masked


PEM = ["-----BEGIN RSA PRIVATE KEY-----",
       "MIIEowIBAAKCAQEA1c8XfQm7o1Uxy3CZ3Gv0Xxw2k1Q8nTqJ0oQp3qZbX4sYk9VfL",
       "qZbX4sYk9VfLMIIEowIBAAKCAQEA1c8XfQm7o1Uxy3CZ3Gv0Xxw2k1Q8nTqJ0oQp3",
       "-----END RSA PRIVATE KEY-----"]


def test_a_private_key_spanning_lines_is_masked_line_by_line_keeping_the_line_count():
    tail = ["starting", *PEM, "started"]
    masked = mask_lines(tail)
    assert len(masked) == len(tail)
    assert masked[0] == "starting" and masked[-1] == "started"
    assert masked[1] == PEM[0] and masked[4] == PEM[3]  # the markers say what was there
    assert masked[2] == masked[3] == MASK


def test_a_private_key_cut_by_the_tail_window_is_masked_on_both_sides():
    head_only = mask_lines(["boot", *PEM[:2]])  # the tail ends inside the key
    assert head_only[-1] == MASK and PEM[1][:20] not in "\n".join(head_only)
    end_only = mask_lines([*PEM[2:], "next line"])  # the tail starts inside the key
    assert end_only[0] == MASK and end_only[-1] == "next line"


def test_every_rule_is_exercised_by_the_corpus():
    """A rule no corpus line needs is either dead or untested: add the line that motivated it."""
    from core.redact import _compile

    texts = [MARKED.sub(r"\1", m) for m in _lines("leaks.txt")] + ["\n".join(PEM), "\n".join(PEM[2:])]
    unused = [r.name for r in RULES if not any(_compile([r]).search(t) for t in texts)]
    assert unused == []


def test_every_rule_is_found_by_its_hints():
    """Each rule runs only on text holding one of its hints: a corpus match without one would be skipped."""
    from core.redact import _active, _compile

    texts = [MARKED.sub(r"\1", m) for m in _lines("leaks.txt")] + ["\n".join(PEM), "\n".join(PEM[2:])]
    missed = [(r.name, t) for i, r in enumerate(RULES) for t in texts
              if _compile([r]).search(t) and i not in _active(t) and r.name != "key-value"]
    assert missed == []


def test_masking_speed_is_reported(capsys):
    """Not a timed assertion: the figure is printed for the README, the test checks only that masking ran."""
    lines = [MARKED.sub(r"\1", m) for m in _lines("leaks.txt")] + _lines("ordinary.txt")
    batch = lines * 50
    t0 = time.perf_counter()
    out = [mask_secrets(line) for line in batch]
    elapsed = time.perf_counter() - t0
    ordinary = _lines("ordinary.txt") * 100
    t1 = time.perf_counter()
    for line in ordinary:
        mask_secrets(line)
    elapsed_ordinary = time.perf_counter() - t1
    with capsys.disabled():
        print(f"\nmasking: {len(batch) / elapsed:,.0f} lines/s on the corpus mix, "
              f"{len(ordinary) / elapsed_ordinary:,.0f} lines/s on ordinary lines")
    assert len(out) == len(batch)


def test_keys_nested_in_values_without_end_are_masked_not_a_recursion_error():
    masked = mask_secrets("tokens=" * 5000 + "hunter22")
    assert "hunter22" not in masked


def test_a_64_kib_line_of_each_risky_shape_is_masked():
    """Bounded work on hostile output: a program controls its log lines (no timing asserted)."""
    n = 65536
    for text in ("token " + "a://" + ":" * n, "mysql " + "x " * (n // 2), 'password: "' + '\\"' * (n // 2),
                 "-----BEGIN PRIVATE KEY-----" + "A" * n, "--token " + "-" * n, "<token>" + "<" * n):
        assert len(mask_secrets(text).splitlines()) == len(text.splitlines())
