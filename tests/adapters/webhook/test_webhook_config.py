"""A ``[[webhook]]`` table that ``run`` could not use is refused by ``check-config`` and ``run``, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main as cli_main
from bot.config_loader import load_config
from core.errors import ConfigProblems

HOOK = '[[webhook]]\nname = "ops"\nurl = "https://hooks.example.com/procbot"\n'
ROUTE = '[[alerts.route]]\nto = ["webhook:ops"]\n'


def _setup(tmp: Path) -> None:
    (tmp / "empty.secret").write_text("\n")
    (tmp / "a-dir").mkdir()
    (tmp / "binary.secret").write_bytes(b"\xff\xfe\x00")
    (tmp / "two-lines.secret").write_text("first\nsecond\n")


CASES = {
    "secret file missing": (HOOK + 'secret_file = "no-such.secret"\n' + ROUTE, "webhook[ops].secret_file",
                            "does not exist"),
    "secret file empty": (HOOK + 'secret_file = "empty.secret"\n' + ROUTE, "webhook[ops].secret_file", "empty"),
    "secret file a directory": (HOOK + 'secret_file = "a-dir"\n' + ROUTE, "webhook[ops].secret_file",
                                "not a file"),
    "secret file not text": (HOOK + 'secret_file = "binary.secret"\n' + ROUTE, "webhook[ops].secret_file",
                             "UTF-8"),
    "secret file of two lines": (HOOK + 'secret_file = "two-lines.secret"\n' + ROUTE,
                                 "webhook[ops].secret_file", "line break"),
    "a route to an unknown webhook": (HOOK + '[[alerts.route]]\nto = ["webhook:pager"]\n', "alerts.route[0].to",
                                      "no [[webhook]] is named 'pager' (the [[webhook]] tables are ops)"),
    "a digest to a webhook with no table": ('[[digest]]\nname = "daily"\ncron = "0 9 * * *"\n'
                                            'to = ["webhook:ops"]\n', "digest[daily].to",
                                            "there is no [[webhook]] table"),
    "an unknown platform": ('[[alerts.route]]\nto = ["pagerduty:ops"]\n', "alerts.route[0].to",
                            "'pagerduty:ops' is not a destination (console, slack:NAME"),
    "a url that is not http": ('[[webhook]]\nname = "ops"\nurl = "ftp://example.com/x"\n', "webhook[ops].url",
                               "not an http:// or https:// URL"),
    "a url without a host": ('[[webhook]]\nname = "ops"\nurl = "https:///x"\n', "webhook[ops].url",
                             "not an http:// or https:// URL"),
    "both secret sources": (HOOK + 'secret_file = "x"\nsecret_env = "OPS_SECRET"\n', "webhook[ops]",
                            "not both"),
    "a header procbot sets": (HOOK + 'headers = { "X-Procbot-Signature" = "x" }\n', "webhook[ops].headers",
                              "set by procbot itself"),
    "a header name with a space": (HOOK + 'headers = { "X Team" = "x" }\n', "webhook[ops].headers",
                                   "not an HTTP header name"),
    "a name a route cannot spell": ('[[webhook]]\nname = "ops.eu"\nurl = "https://example.com/"\n',
                                    "webhook[ops.eu].name", "pattern"),
    "a name used twice": (HOOK + HOOK, "webhook", "webhook name 'ops' is used twice"),
    "an unknown key": (HOOK + 'sekret = "x"\n', "webhook[ops].sekret", "unknown key"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_check_config_and_run_refuse_a_bad_webhook_naming_the_file_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    body, key, problem = CASES[case]
    _setup(tmp_path)
    cfg = tmp_path / "procbot.toml"
    cfg.write_text(f'[procbot]\nstate_dir = "state"\n{body}')

    assert cli_main(["check-config", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}: {key}: " in err and problem in err, err
    with pytest.raises(ConfigProblems) as refused:  # what `procbot run` and reload load with
        load_config(cfg)
    assert f"{cfg}: {key}: " in str(refused.value) and problem in str(refused.value)


def test_a_good_webhook_table_passes_and_a_secret_variable_not_set_is_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_WEBHOOK_SECRET", raising=False)
    cfg = tmp_path / "procbot.toml"
    cfg.write_text(f'[procbot]\nstate_dir = "state"\n{HOOK}secret_env = "OPS_WEBHOOK_SECRET"\n'
                   f'headers = {{ Authorization = "Bearer abc" }}\n{ROUTE}')
    assert cli_main(["check-config", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out
    assert "warning: webhook[ops].secret_env: OPS_WEBHOOK_SECRET is not set" in out


def test_a_webhook_secret_variable_is_kept_from_the_programs_procbot_starts(tmp_path: Path) -> None:
    cfg = tmp_path / "procbot.toml"
    cfg.write_text(f'[procbot]\nstate_dir = "state"\n{HOOK}secret_env = "OPS_WEBHOOK_SECRET"\n')
    assert "OPS_WEBHOOK_SECRET" in load_config(cfg).secret_env_names()
