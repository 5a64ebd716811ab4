"""procbot's own log: JSON lines in a rotated file, warnings on stderr, secrets masked in both."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
from pathlib import Path

from bot.secrets import SecretRedactor


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(state_dir: Path, level: str, redactor: SecretRedactor) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    state_dir.mkdir(parents=True, exist_ok=True)
    fileh = logging.handlers.RotatingFileHandler(state_dir / "procbot.log", maxBytes=5 * 1024 * 1024, backupCount=3)
    fileh.setFormatter(JsonFormatter())
    fileh.addFilter(redactor)
    errh = logging.StreamHandler(sys.stderr)
    errh.setLevel(logging.WARNING)
    errh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    errh.addFilter(redactor)
    root.addHandler(fileh)
    root.addHandler(errh)
    for noisy in ("aiosqlite", "asyncio", "discord.gateway", "discord.client", "slack_bolt", "slack_sdk"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
