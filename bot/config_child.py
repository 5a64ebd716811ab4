"""``python -m bot.config_child FILE``: check a config file and print the result as JSON.

The daemon's way of checking (see ``bot.config_loader``): pydantic loads here, in a
process that exits, instead of in the daemon. Prints ``{"config": ...}`` (the checked
config as plain data) or ``{"problems": [[key, problem], ...], "source": FILE}``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from bot.config_loader import load_config
from core.errors import ConfigError, ConfigProblems


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    try:
        config = load_config(path)
    except ConfigProblems as e:
        answer: dict[str, object] = {"problems": e.problems, "source": e.path}
    except ConfigError as e:
        answer = {"problems": [(e.key, e.problem)], "source": e.path}
    else:
        answer = {"config": dataclasses.asdict(config)}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
