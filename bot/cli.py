"""The ``procbot`` command line.

Client commands (status, start, ...) only import the standard library and
the plain-text renderer, so ``procbot status`` starts in a few tens of
milliseconds; ``run`` and ``check-config`` import the engine lazily.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # argparse is imported only when needed: plain client calls skip it
    import argparse

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_DAEMON = 0, 1, 2, 3
CLIENT_VERBS = {
    "status": "show programs (like supervisorctl status)",
    "start": "start a target: program, group:NAME, glob or all",
    "stop": "stop a target",
    "restart": "restart a target",
    "logs": "last lines of a program's log",
    "info": "details of one program",
    "history": "recent runs of one program",
    "silence": "hold alerts for a target for a duration",
    "unsilence": "end a silence",
    "silences": "list active silences",
    "digest": "post a status digest now",
    "audit": "recent audit trail",
    "reload": "re-read the config file and apply program changes",
    "whoami": "who procbot thinks you are",
}


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
    state = Path(raw).expanduser()
    if not state.is_absolute():
        state = config.resolve().parent / state
    return state / "procbot.sock"


def _fail(msg: str, code: int) -> int:
    print(f"procbot: {msg}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(prog="procbot", description="Chat-ops process supervisor.")
    p.add_argument("-c", "--config", help="config file (default: $PROCBOT_CONFIG, ./procbot.toml)")
    # -c works before or after the command: `procbot -c F status` and `procbot status -c F`
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.add_parser("run", help="run the daemon in the foreground", parents=[common])
    sub.add_parser("check-config", help="validate the config file and exit", parents=[common])
    inv = sub.add_parser("discord-invite", help="print the Discord OAuth2 invite URL", parents=[common])
    inv.add_argument("--application-id", help="Discord application ID (default: [discord].application_id)")
    for verb, text in CLIENT_VERBS.items():
        sp = sub.add_parser(verb, help=text, parents=[common])
        sp.add_argument("args", nargs="*")
        sp.add_argument("--json", action="store_true", help="print the raw reply as JSON")
        if verb == "logs":
            sp.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    return p


def _fast_client_args(argv: list[str]) -> dict[str, Any] | None:
    """Plain client calls (`procbot [-c F] status web --json`) skip argparse and its imports."""
    config = None
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-c", "--config") and i + 1 < len(argv):
            config = argv[i + 1]
            i += 2
            continue
        if a.startswith("--config="):
            config = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    if not rest or rest[0] not in CLIENT_VERBS:
        return None
    words = rest[1:]
    flags = {w for w in words if w.startswith("-")}
    if flags - {"--json", "-f", "--follow"}:
        return None  # let argparse explain
    return {
        "cmd": rest[0],
        "args": [w for w in words if not w.startswith("-")],
        "json": "--json" in flags,
        "follow": bool(flags & {"-f", "--follow"}),
        "config": config,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fast = _fast_client_args(argv)
    if fast is not None:
        return _client(fast)
    args = _parser().parse_args(argv)
    if args.cmd is None:
        _parser().print_help()
        return EXIT_USAGE
    if args.cmd == "run":
        from bot.daemon import run

        return run(_config_path(args.config))
    if args.cmd == "check-config":
        return _check_config(_config_path(args.config))
    if args.cmd == "discord-invite":
        return _discord_invite(args)
    return _client({"cmd": args.cmd, "args": args.args, "json": args.json,
                    "follow": getattr(args, "follow", False), "config": args.config})


def _client(args: dict[str, Any]) -> int:
    from adapters.text_render import render_dict
    from bot.control_client import DaemonUnreachable, send

    text = " ".join([str(args["cmd"]), *args["args"]])
    try:
        raw = send(_socket_of(_config_path(args["config"])), text)
    except DaemonUnreachable as e:
        return _fail(str(e), EXIT_NO_DAEMON)
    if args["json"]:
        print(json.dumps(raw, indent=2))
    else:
        print(render_dict(raw))
    ok = bool(raw.get("ok", True))
    if ok and args["cmd"] == "logs" and args["follow"]:
        return _follow(Path(raw["data"]["path"]))
    return EXIT_OK if ok else EXIT_FAILED


def _follow(path: Path) -> int:
    """Like ``tail -F``: the log daemon rotates by rename, so reopen the name when it is a new file."""
    import time

    try:
        f = open(path, "rb")  # noqa: SIM115 - reopened at each rotation, closed in finally
    except FileNotFoundError:
        return _fail(f"{path} disappeared", EXIT_FAILED)
    try:
        f.seek(0, os.SEEK_END)
        while True:
            chunk = f.read()
            if chunk:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
                continue
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None  # between the rename and the new file
            if st is not None and st.st_ino != os.fstat(f.fileno()).st_ino:
                f.close()
                f = open(path, "rb")  # noqa: SIM115
            elif st is not None and f.tell() > st.st_size:  # truncated by hand: start from the top
                f.seek(0)
            else:
                time.sleep(0.2)
    except KeyboardInterrupt:
        return EXIT_OK
    except FileNotFoundError:
        return _fail(f"{path} disappeared", EXIT_FAILED)
    finally:
        f.close()


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
    from adapters.discord_invite import invite_url
    from core.errors import InvalidInput

    try:
        print(invite_url(app_id))
    except InvalidInput as e:
        return _fail(str(e), EXIT_USAGE)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
