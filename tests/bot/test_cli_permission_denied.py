"""A user who may not open the control socket is told so and gets exit 1, not "procbot is not running" (7).

The README's exit-code table (issue 8 case 11) says permission denied on the socket is a failed
command; 7 is for a daemon that is not there, which a script would handle differently (start it).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from bot.cli import EXIT_FAILED
from tests.daemon_harness import Daemon, write_config

NOBODY = 65534


def _cli_as(uid: int, cfg: Path, *words: str) -> tuple[int, str]:
    """Run ``procbot -c cfg words`` in a forked child that has really become ``uid``: (exit code, stderr)."""
    from bot.cli import main

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery from here on, only os._exit
        code = 99
        err = io.StringIO()
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    code = main(["-c", str(cfg), *words])
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else 98
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which fails the test
            err.write(f"child raised {e!r}")
        finally:
            os.write(w, f"{code}\n{err.getvalue()}".encode())
            os._exit(0)
    os.close(w)
    chunks = []
    while data := os.read(r, 65536):
        chunks.append(data)
    os.close(r)
    os.waitpid(pid, 0)
    code_line, _, stderr = b"".join(chunks).decode().partition("\n")
    return int(code_line), stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another uid")
def test_another_user_denied_the_control_socket_gets_exit_1_and_a_message_naming_the_cause():
    base = Path(tempfile.mkdtemp(prefix="procbot-denied-", dir="/tmp"))
    try:
        os.chmod(base, 0o711)  # the config is readable by anyone; the state dir stays 0700
        cfg = write_config(base, "")
        os.chmod(cfg, 0o644)
        d = Daemon(cfg)
        try:
            d.wait_ready(programs=0)
            code, stderr = _cli_as(NOBODY, cfg, "status")
        finally:
            d.stop()
        assert code == EXIT_FAILED, stderr
        assert "permission denied" in stderr and "not running" not in stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
