"""A seeded, bounded fuzz of the control socket against a real daemon (issue 8 case 8, issue 7 case 11).

A few thousand raw requests (random JSON, deep nesting, huge lines, invalid UTF-8, surrogates, partial
lines, and command lines built from the grammar's own verbs with random arguments): every one gets a
reply frame, none is an internal error, the audit trail gains a row for every one that is not a
successful read-only call, and the daemon stays up.
"""

from __future__ import annotations

import json
import random
import threading

import pytest

from core.commands.catalog import AUDIT_FILTERS, BY_NAME, VERBS
from core.commands.grammar import parse
from core.errors import InvalidInput
from tests.control_socket_helpers import audit_count, raw_request, request, socket_of
from tests.daemon_harness import Daemon, write_config

SEED = 20261201
REQUESTS = 2500
PROGRAMS = ("web", "worker-1", "worker-2")

WORDS = [*PROGRAMS, "all", "group:workers", "group:nope", "worker-*", "w?b", "[x]", "nosuch", "5", "20", "0", "-3",
         "²", "٣", "\uff11", "1e3", "99999999999999999999", "30m", "2h", "0m", "forever", "--public", "--yes", "--rm",
         "$(id)", "`id`", "a;b", "../x", "<!here>", "@everyone", "é", "🙂", "\t", "\x1b[31m", "\x00", "\u200b",
         "\udcff", "\ud800", *(f"{k}=web" for k in AUDIT_FILTERS), "since=1h", "page=2", "outcome=ok", "x" * 300]


def _json_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.randint(-2**40, 2**40)
    if kind == 1:
        return rng.choice([None, True, False, 1.5, "", "status"])
    if kind == 2:
        return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(12)))
    if kind == 3:
        return rng.choice(WORDS)
    if kind == 4:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["command", "cmd", "x", ""]): _json_value(rng, depth + 1) for _ in range(rng.randrange(3))}


def _command_line(rng: random.Random) -> str:
    odd = rng.choice([["Status", "ps", "tail"], ["frobnicate", "restrat"], [""]])
    verb = rng.choice([*(v.name for v in VERBS), *odd])
    return " ".join([verb, *(rng.choice(WORDS) for _ in range(rng.randrange(4)))])


def _payload(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.55:  # a command line from the grammar, framed properly
        return json.dumps({"command": _command_line(rng)}).encode() + b"\n"
    if roll < 0.70:
        return json.dumps(_json_value(rng)).encode() + b"\n"
    if roll < 0.76:
        depth = rng.choice([100, 1000, 5000, 50_000])
        return b'{"command": ' + b"[" * depth + b"]" * rng.choice([0, depth]) + b"}\n"
    if roll < 0.80:
        return json.dumps({"command": "status " + "x" * rng.choice([5000, 70_000, 200_000])}).encode() + b"\n"
    if roll < 0.88:  # invalid UTF-8 somewhere in an otherwise plausible request
        text = json.dumps({"command": _command_line(rng)}, ensure_ascii=False)
        raw = bytearray(text.encode("utf-8", "surrogatepass"))
        raw.insert(rng.randrange(len(raw)), rng.choice([0xFF, 0xC0, 0x80, 0xED]))
        return bytes(raw) + b"\n"
    if roll < 0.93:  # a JSON escape that is a lone surrogate
        return b'{"command": "' + rng.choice([b"audit", b"logs web", b"status"]) + b" \\ud" + \
            rng.choice([b"800", b"cff", b"fff"]) + b'"}\n'
    if roll < 0.97:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) + b"\n"
    return rng.choice([b"\n", b"{}\n", b"[]\n", b'"status"\n', b"null\n", b'{"command": null}\n'])


def _audited(payload: bytes, reply: dict) -> bool:
    """Every request leaves a row, except a successful read-only command (the dispatcher's audit rule)."""
    if not reply["ok"]:
        return True
    try:
        text = json.loads(payload.split(b"\n", 1)[0])["command"]
        return not BY_NAME[parse(text).verb].read_only
    except (InvalidInput, ValueError, KeyError, TypeError, RecursionError):
        return True


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("control-fuzz")
    body = "".join(f'''
[[program]]
name = "{name}"
command = ["sleep", "3600"]
autostart = false
stop_timeout = 2
{'group = "workers"' if name.startswith("worker") else ""}
''' for name in PROGRAMS)
    d = Daemon(write_config(tmp, body))
    try:
        d.wait_ready(programs=0)
        yield d
    finally:
        d.stop()


def test_every_fuzzed_request_gets_a_reply_and_the_audit_row_it_is_owed(daemon):
    rng = random.Random(SEED)
    path = socket_of(daemon.cfg)
    before = audit_count(daemon.cfg)
    held: list[dict | None] = []
    partial = [threading.Thread(target=lambda: held.append(raw_request(path, b'{"command": "restart web'))) for _ in
               range(3)]
    for t in partial:  # partial lines held open while the rest goes on
        t.start()
    owed = len(partial)
    unanswered, internal = [], []
    for _ in range(REQUESTS):
        payload = _payload(rng)
        reply = raw_request(path, payload)
        if reply is None:
            unanswered.append(payload[:120])
            continue
        if reply.get("error_code") == "internal":
            internal.append(payload[:120])
        owed += _audited(payload, reply)
    for t in partial:
        t.join(30)
    assert unanswered == [] and internal == []
    assert len(held) == 3 and all(r is not None and r["error_code"] == "timeout" for r in held)
    assert daemon.proc.poll() is None
    assert request(path, "status")["ok"]
    assert audit_count(daemon.cfg) - before == owed
