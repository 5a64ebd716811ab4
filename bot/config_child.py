"""``python -m bot.config_child FILE``: check a config file's schema and print the answer as JSON.

How a running daemon checks a file on reload (see ``bot.config_loader.start_checking``):
pydantic loads here, in a process that exits, instead of in the daemon.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bot.config_loader import schema_answer

if __name__ == "__main__":
    sys.stdout.buffer.write(schema_answer(Path(sys.argv[1])))
