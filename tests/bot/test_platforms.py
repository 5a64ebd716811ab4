"""The platform table is the one place that knows which platforms exist.

These read the table instead of copying it: a new row must come with its
folder in adapters/, and no other module in bot/ or core/ may compare
platform names.
"""

from __future__ import annotations

import re

from bot.config_loader import config_from_dict
from bot.platforms import PLATFORMS, destination_problem
from tests.helpers import REPO

#: `platform == "slack"`, `name in ("slack", "discord")`, `startswith("discord:")`: a decision per platform
PLATFORM_TEST = re.compile(r"""(==|!=|\bin\b|startswith\()\s*\(?\s*["'](?P<name>[a-z]+)[:"']""")


def test_every_platform_row_has_its_folder_in_adapters() -> None:
    for p in PLATFORMS:
        assert (REPO / "adapters" / p.name / "adapter.py").is_file(), p.name


def test_no_module_outside_the_table_decides_by_platform_name() -> None:
    names = {p.name for p in PLATFORMS}
    offenders = []
    for path in [*(REPO / "bot").rglob("*.py"), *(REPO / "core").rglob("*.py")]:
        if path.name == "platforms.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for m in PLATFORM_TEST.finditer(line):
                if m["name"] in names - {"console"}:
                    offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_row_accepts_its_own_destination_form_and_refuses_the_other() -> None:
    config = config_from_dict({"webhook": [{"name": "ops", "url": "http://127.0.0.1:9/"}]}, "procbot.toml")
    for p in PLATFORMS:
        good, bad = (p.name, f"{p.name}:ops") if p.bare else (f"{p.name}:ops", p.name)
        assert destination_problem(config, good) is None, good
        assert destination_problem(config, bad) is not None, bad


def test_the_log_redactor_is_given_every_configured_platforms_secrets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.platforms import secret_values

    (tmp_path / "pager.secret").write_text("pager-signing-secret\n")
    config = config_from_dict({"discord": {}, "webhook": [
        {"name": "pager", "url": "https://x.example/", "secret_file": "pager.secret"},
        {"name": "ntfy", "url": "https://y.example/", "secret_env": "NTFY_SECRET"}]}, str(tmp_path / "procbot.toml"))
    environ = {"DISCORD_TOKEN": "discord-bot-token", "NTFY_SECRET": "ntfy-signing-secret"}
    assert sorted(secret_values(config, environ)) == ["discord-bot-token", "ntfy-signing-secret",
                                                      "pager-signing-secret"]
