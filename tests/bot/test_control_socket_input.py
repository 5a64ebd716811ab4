"""Inputs that once got no answer: each gets a clear error reply and an audit row (issue 8 case 8)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.control_socket_helpers import audit_rows, one_program_daemon, raw_request, request, socket_of
from tests.daemon_harness import ROOT

PY = sys.executable


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    with one_program_daemon(tmp_path_factory.mktemp("control-input")) as d:
        yield d


def last_audit(cfg):
    return audit_rows(cfg)[-1]


def test_deeply_nested_json_gets_a_malformed_request_reply_and_an_audit_row(daemon):
    before = len(audit_rows(daemon.cfg))
    reply = raw_request(socket_of(daemon.cfg), b"[" * 50_000 + b"\n")
    assert reply is not None and not reply["ok"]
    assert "Malformed request" in reply["text"]
    rows = audit_rows(daemon.cfg)
    assert len(rows) == before + 1 and rows[-1]["outcome"] == "invalid"


def test_non_ascii_digits_are_not_a_number_of_lines(daemon):
    reply = request(socket_of(daemon.cfg), "logs web ²")
    assert reply is not None and not reply["ok"]
    assert "not a positive whole number" in reply["text"]
    row = last_audit(daemon.cfg)
    assert row["outcome"] == "invalid" and row["command"].startswith("logs web")


def test_argv_that_is_not_utf8_is_refused_with_a_message_and_audited(daemon):
    """`procbot audit $'\\xff'`: the CLI sees a lone surrogate; the daemon must answer, not vanish."""
    out = subprocess.run([PY, "-m", "bot.cli", "-c", str(daemon.cfg), "audit", b"\xff"],
                         capture_output=True, cwd=ROOT, timeout=30)
    assert out.returncode == 2, out.stderr
    assert b"Traceback" not in out.stderr + out.stdout
    assert b"not valid UTF-8" in out.stdout
    row = last_audit(daemon.cfg)
    assert row["outcome"] == "invalid" and row["command"] == "audit ?"


def test_invalid_utf8_on_the_socket_is_a_malformed_request(daemon):
    reply = raw_request(socket_of(daemon.cfg), b'{"command": "status \xff\xfe"}\n')
    assert reply is not None and not reply["ok"] and "UTF-8" in reply["text"]
    assert last_audit(daemon.cfg)["outcome"] == "invalid"


def test_a_json_surrogate_escape_is_refused_and_audited(daemon):
    reply = raw_request(socket_of(daemon.cfg), b'{"command": "status \\udcff"}\n')
    assert reply is not None and not reply["ok"]
    row = last_audit(daemon.cfg)
    assert row["outcome"] == "invalid" and "status" in row["command"]


def test_a_line_over_64_kib_gets_a_too_long_reply_and_an_audit_row(daemon):
    before = len(audit_rows(daemon.cfg))
    reply = raw_request(socket_of(daemon.cfg), json.dumps({"command": "status " + "x" * 70_000}).encode() + b"\n")
    assert reply is not None and not reply["ok"] and "too long" in reply["text"]
    rows = audit_rows(daemon.cfg)
    assert len(rows) == before + 1 and rows[-1]["outcome"] == "invalid"


def test_a_partial_line_held_open_times_out_with_a_reply_and_an_audit_row(daemon):
    reply = raw_request(socket_of(daemon.cfg), b'{"command": "sta', timeout=30)
    assert reply is not None and not reply["ok"] and "timed out" in reply["text"]
    row = last_audit(daemon.cfg)
    assert row["outcome"] == "invalid" and "timed out" in row["detail"]


def test_the_daemon_still_answers_after_every_bad_input(daemon):
    reply = request(socket_of(daemon.cfg), "status")
    assert reply is not None and reply["ok"]
