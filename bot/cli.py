"""The ``procbot`` command line.

Client commands (status, start, ...) import only what a client call needs:
the command catalog (plain classes, no imports), ``json``, ``socket`` and
the plain-text renderer, so ``procbot status`` starts in a few tens of
milliseconds; ``run`` and ``check-config`` import the engine lazily, and
``argparse`` is imported only when a call is not a plain client call. The
commands are the catalog's (``core.commands.catalog.VERBS``), so
``procbot help`` and ``/proc help`` show the same text.

Exit status (``EXIT_*`` below): 0 ok; 1 the command failed; 2 usage or config
error; for ``status <target>`` supervisorctl's convention, 3 when a program
asked about is not running and 4 when there is no such program or group;
7 procbot is not running (supervisorctl's code when supervisord's socket is
missing); 75 the daemon stayed busy (EX_TEMPFAIL: try again); 130 interrupted
(Ctrl-C), except a follower (``logs -f``, ``tail``), for which Ctrl-C is the
way to stop and exits 0.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from core.commands.catalog import HELP_NOTE, VERBS, help_lines, lookup

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds at every client call)
if TYPE_CHECKING:
    import argparse
    from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_NOT_RUNNING, EXIT_NO_SUCH_PROGRAM = 3, 4  # `status <target>`, as supervisorctl (LSB status codes)
EXIT_NO_DAEMON = 7  # as supervisorctl when supervisord is not running (LSB "program is not running")
EXIT_BUSY = 75  # sysexits.h EX_TEMPFAIL: the daemon is there but stayed busy; try again
CLI_EXTRAS = ("On the host also: procbot run | check-config | discord-invite | completion bash|zsh; "
              "--json on every command, procbot logs PROGRAM -f (or procbot tail PROGRAM), procbot --version.")


def _config_path(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("PROCBOT_CONFIG")
    if env:
        return Path(env)
    for p in ("procbot.toml", "/etc/procbot/procbot.toml"):
        if Path(p).exists():
            return Path(p)
    raise SystemExit(_fail("no configuration file: pass -c FILE or set PROCBOT_CONFIG", EXIT_USAGE))


_STATE_DIR = re.compile(r'(?m)^\[procbot\][^\[]*?^\s*state_dir\s*=\s*"([^"\\]*)"\s*(?:#.*)?$')


def _socket_of(config: Path) -> Path:
    """Where the daemon for this config listens. Reads only [procbot].state_dir: no validation, no pydantic.

    A plain ``state_dir = "..."`` line is found with a regex; anything fancier falls back to tomllib.
    """
    try:
        text = config.read_text()
    except FileNotFoundError:
        raise SystemExit(_fail(f"{config}: file does not exist", EXIT_USAGE)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SystemExit(_fail(f"{config}: cannot be read: {e}", EXIT_USAGE)) from None
    m = _STATE_DIR.search(text)
    if m:
        raw = m.group(1)
    else:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SystemExit(_fail(f"{config}: not valid TOML: {e}", EXIT_USAGE)) from None
        raw = str(data.get("procbot", {}).get("state_dir", ".state"))
    try:
        if "\0" in raw:
            raise ValueError("NUL byte in the path")
        state = Path(raw).expanduser()
    except (RuntimeError, ValueError) as e:  # ~nosuchuser, NUL: check-config names the key
        raise SystemExit(_fail(f"{config}: procbot.state_dir: {raw!r}: {e}", EXIT_USAGE)) from None
    if not state.is_absolute():
        state = config.resolve().parent / state
    return state / "procbot.sock"


def _fail(msg: str, code: int) -> int:
    print(f"procbot: {msg}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    import argparse

    class Version(argparse.Action):
        """``--version``, looked up only when asked: importlib.metadata costs ~50 ms, every ``procbot run`` too."""

        def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
            from core.fleet.hosts import procbot_version

            print(f"procbot {procbot_version() or '(version unknown: not installed as a package)'}")
            parser.exit()

    p = argparse.ArgumentParser(prog="procbot", description="Chat-ops process supervisor.")
    p.add_argument("-c", "--config", help="config file (default: $PROCBOT_CONFIG, ./procbot.toml)")
    p.add_argument("-H", "--host", help="run the command on this fleet host (through the local daemon's fleet "
                   "link; needs [cluster])")
    p.add_argument("--version", action=Version, nargs=0, help="show procbot's version and exit")
    # -c works before or after the command: `procbot -c F status` and `procbot status -c F`
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("-H", "--host", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.add_parser("run", help="run the daemon in the foreground", parents=[common])
    sub.add_parser("check-config", help="validate the config file and exit", parents=[common])
    inv = sub.add_parser("discord-invite", help="print the Discord OAuth2 invite URL", parents=[common])
    inv.add_argument("--application-id", help="Discord application ID (default: [discord].application_id)")
    comp = sub.add_parser("completion", help="print a bash or zsh completion script")
    comp.add_argument("shell", choices=("bash", "zsh"))
    for verb in VERBS:
        sp = sub.add_parser(verb.name, help=verb.summary, parents=[common])
        sp.add_argument("args", nargs="*")
        sp.add_argument("--json", action="store_true", help="print the raw reply as JSON")
        if verb.name == "logs":
            sp.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
            sp.add_argument("--raw", action="store_true", help="do not mask secret-looking values (local admin only)")
    return p


def _globals(argv: list[str]) -> tuple[str | None, str | None, list[str]]:
    """``-c FILE`` and ``-H HOST`` (anywhere on the line) apart from the other words."""
    config = host = None
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-c", "--config", "-H", "--host") and i + 1 < len(argv):
            if a in ("-c", "--config"):
                config = argv[i + 1]
            else:
                host = argv[i + 1]
            i += 2
            continue
        if a.startswith("--config="):
            config = a.split("=", 1)[1]
        elif a.startswith("--host="):
            host = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    return config, host, rest


def _fast_client_args(argv: list[str]) -> dict[str, Any] | None:
    """Plain client calls (`procbot [-c F] status web --json`) skip argparse and its imports."""
    config, host, rest = _globals(argv)
    verb = lookup(rest[0]) if rest and rest[0] == rest[0].lower() else None
    if verb is None:
        return None
    words = rest[1:]
    flags = {w for w in words if w.startswith("-")}
    if flags - {"--json", "-f", "--follow"} - ({"--raw"} if verb.name == "logs" else set()):
        return None  # let argparse explain
    return {
        "cmd": verb.name,
        "args": [w for w in words if not w.startswith("-")],
        "json": "--json" in flags,
        # `procbot tail web` is `procbot logs web -f`, as `tail` of a file follows it for the asking
        "follow": bool(flags & {"-f", "--follow"}) or rest[0] == "tail",
        "raw": "--raw" in flags,
        "config": config,
        "host": host,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config, host, rest = _globals(argv)
    if rest == ["run"] and host is None:
        # argparse's parser (a subparser per verb) costs ~60 ms, all of it before the config check can
        # start: the critical path of every cold start. Anything else (--help, a typo) gets argparse.
        return _run(_config_path(config))
    if rest and rest[0] == "_complete":  # hidden: what the completion scripts call at each TAB
        return _complete(config, rest[1] if len(rest) > 1 else "programs")
    fast = _fast_client_args(argv)
    if fast is not None:
        return _help(fast["args"]) if fast["cmd"] == "help" else _interruptible(fast)
    args = _parser().parse_args(argv)
    if args.cmd is None:
        _parser().print_help()
        return EXIT_USAGE
    if args.cmd == "run":
        return _run(_config_path(args.config))
    if args.cmd == "check-config":
        return _check_config(_config_path(args.config))
    if args.cmd == "discord-invite":
        return _discord_invite(args)
    if args.cmd == "help":
        return _help(args.args)
    if args.cmd == "completion":
        from bot.completion import script

        sys.stdout.write(script(args.shell))
        return EXIT_OK
    return _interruptible({"cmd": args.cmd, "args": args.args, "json": args.json,
                           "follow": getattr(args, "follow", False), "raw": getattr(args, "raw", False),
                           "config": args.config, "host": getattr(args, "host", None)})


def _interruptible(args: dict[str, Any]) -> int:
    """Ctrl-C is how a follower (`logs -f`, `tail`) ends: exit 0 without a traceback, whenever it comes;
    any other command interrupted exits 130, as a shell reports SIGINT."""
    try:
        return _client(args)
    except KeyboardInterrupt:
        return EXIT_OK if args["follow"] else 130


def _run(path: Path) -> int:
    from bot.startup_memory import keep_out_tls

    keep_out_tls(path)  # before asyncio is imported: no OpenSSL in an offline daemon
    from bot.config_loader import start_checking

    checking = start_checking(path, fork=True)  # in a child, while the daemon's modules load here
    from bot.daemon import run

    return run(path, checking)


def _help(words: list[str]) -> int:
    """`procbot help [command]`, answered from the catalog itself: no daemon needed, same text as `/proc help`."""
    from core.commands.grammar import parse
    from core.errors import InvalidInput

    try:
        cmd = parse(" ".join(["help", *words]))
    except InvalidInput as e:
        return _fail(str(e), EXIT_USAGE)
    topic = cmd.extra.get("command")
    print("\n".join(help_lines(str(topic) if topic else None)))
    if not topic:
        print(f"\n{HELP_NOTE.replace('`', '')}\n{CLI_EXTRAS}")
    return EXIT_OK


def _complete(config: str | None, what: str) -> int:
    """``procbot [-c F] _complete WHAT``: the words a TAB offers (bot.completion), one a line; nothing,
    and exit 0, when there is no config, no daemon, or it does not answer within a moment."""
    import contextlib
    import io

    from bot.completion import TIMEOUT, words_for
    from bot.control_client import send

    try:
        with contextlib.redirect_stderr(io.StringIO()):  # a missing config says nothing into a command line
            path = _socket_of(_config_path(config))
        reply = send(path, "status", timeout=TIMEOUT, retry=False)
        programs = reply["data"]["programs"]
    except (SystemExit, Exception):  # noqa: BLE001 - whatever went wrong, a TAB completes nothing
        return EXIT_OK
    words = words_for(what, programs)
    if words:
        print("\n".join(words))
    return EXIT_OK


def _client(args: dict[str, Any]) -> int:
    from adapters.plain_text import render_dict
    from bot.control_client import DaemonBusy, DaemonForbidden, DaemonUnreachable, send

    for stream in (sys.stdout, sys.stderr):  # a reply is never worth a UnicodeEncodeError traceback
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    words = [str(args["cmd"]), *args["args"]]
    if args.get("host"):
        if args["follow"]:
            return _fail("`logs -f` follows a file on this machine: leave out -H, or use `logs` without -f",
                         EXIT_USAGE)
        verb = lookup(str(args["cmd"]))
        if verb is not None and verb.program_scoped and len(words) > 1:
            words[1] += f"@{args['host']}"  # the fleet grammar's host part: `restart web@web-02`
        else:
            words.append(f"@{args['host']}")  # `status @web-02`, `silences @web-02`
    text = " ".join(words)
    try:
        raw = send(_socket_of(_config_path(args["config"])), text, raw=bool(args.get("raw")))
    except DaemonBusy as e:
        return _fail(str(e), EXIT_BUSY)
    except DaemonForbidden as e:
        return _fail(str(e), EXIT_FAILED)
    except DaemonUnreachable as e:
        return _fail(str(e), EXIT_NO_DAEMON)
    ok = bool(raw.get("ok", True))
    if args["json"]:
        print(json.dumps(raw, indent=2))
    elif ok and args["cmd"] == "pid":
        print(raw["data"]["pid"])  # the number alone, as supervisorctl: `kill -HUP $(procbot pid web)`
    else:
        print(render_dict(raw))
    if ok and args["cmd"] == "logs" and args["follow"]:
        data = raw["data"]
        return _follow(Path(data["path"]), masked=not args.get("raw"), start=(data.get("end"), data.get("inode")))
    return exit_status(str(args["cmd"]), bool(args["args"]), raw)


def exit_status(verb: str, targeted: bool, reply: dict[str, Any]) -> int:
    """The one place a reply becomes an exit status (the table is in the module docstring)."""
    code = reply.get("error_code")
    if reply.get("ok", True):
        if verb == "status" and targeted and (reply.get("data") or {}).get("not_running"):
            return EXIT_NOT_RUNNING
        return EXIT_OK
    if code == "invalid_input":
        return EXIT_USAGE
    if code == "not_found" and verb == "status":
        return EXIT_NO_SUCH_PROGRAM
    if code == "busy":
        return EXIT_BUSY
    return EXIT_FAILED


def _follow(path: Path, masked: bool = True, start: tuple[int | None, int | None] = (None, None)) -> int:
    """Like ``tail -F``: the log daemon rotates by rename, so reopen the name when it is a new file.

    ``start`` is where the daemon's tail ended (offset, inode): following on from there, a line
    written between the tail and this open is printed once, not lost.
    """
    import signal
    import time

    from core.redact import mask_secrets  # masked by default, like every other way out of the log file

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # `kill`, `timeout 60 procbot tail web`: a clean end, like Ctrl-C
    pending = b""

    def emit(chunk: bytes) -> None:
        nonlocal pending
        # whole lines only, so a secret split across two reads is still masked
        pending += chunk
        done, sep, pending = pending.rpartition(b"\n")
        text = (done + sep).decode(errors="replace")
        sys.stdout.write(mask_secrets(text) if masked else text)
        sys.stdout.flush()

    try:
        f = open(path, "rb")  # noqa: SIM115 - reopened at each rotation, closed in finally
    except FileNotFoundError:
        return _fail(f"{path} disappeared", EXIT_FAILED)
    try:
        end, inode = start
        st = os.fstat(f.fileno())
        if end is None or inode is None:
            f.seek(0, os.SEEK_END)
        elif st.st_ino != inode:  # rotated since the tail: all of this file is new
            f.seek(0)
        else:
            f.seek(min(end, st.st_size))
        while True:
            chunk = f.read()
            if chunk:
                emit(chunk)
                continue
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None  # between the rename and the new file
            if st is not None and st.st_ino != os.fstat(f.fileno()).st_ino:
                old = os.fstat(f.fileno()).st_ino
                f.close()
                for missed in rotated_past(path, old):  # more than one rotation since the last look
                    try:
                        with open(missed, "rb") as m:
                            emit(m.read())
                    except FileNotFoundError:
                        pass  # rotated off the end meanwhile: past saving
                f = open(path, "rb")  # noqa: SIM115
            elif st is not None and f.tell() > st.st_size:  # truncated by hand: start from the top
                f.seek(0)
            else:
                time.sleep(0.2)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `procbot tail web | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return EXIT_OK
    except FileNotFoundError:
        return _fail(f"{path} disappeared", EXIT_FAILED)
    finally:
        f.close()


def rotated_past(path: Path, inode: int) -> list[Path]:
    """The backups written after the file ``inode`` and before the live one, oldest first.

    A follower that looks every 0.2 s can find two rotations at once: its file is ``web.log.2`` by
    then, and ``web.log.1`` would be skipped. None when the file was not rotated (a clear removes it).
    """
    backups = []
    for i in range(1, 101):
        candidate = path.with_name(f"{path.name}.{i}")
        try:
            if os.stat(candidate).st_ino == inode:
                return backups[::-1]
        except FileNotFoundError:
            return []
        backups.append(candidate)
    return []


def _check_config(path: Path) -> int:
    from bot.config_check import check
    from core.errors import ConfigError

    try:
        summary = check(path)
    except ConfigError as e:
        return _fail(str(e), EXIT_USAGE)
    print(summary)
    return EXIT_OK


def _discord_invite(args: argparse.Namespace) -> int:
    app_id = args.application_id
    if not app_id:
        from bot.config_loader import load_config
        from core.errors import ConfigError

        try:
            cfg = load_config(_config_path(args.config))
        except ConfigError as e:
            return _fail(str(e), EXIT_USAGE)
        app_id = cfg.discord.application_id if cfg.discord else None
    if not app_id or not app_id.isdigit():
        return _fail("give --application-id ID (digits) or set [discord].application_id", EXIT_USAGE)
    from adapters.discord.invite import invite_url
    from core.errors import InvalidInput

    try:
        print(invite_url(app_id))
    except InvalidInput as e:
        return _fail(str(e), EXIT_USAGE)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
