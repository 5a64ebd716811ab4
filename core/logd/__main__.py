"""``python -m core.logd STATE_DIR [GRACE]``: the log daemon procbot starts (see core.logd.server)."""

import sys

from core.logd.server import main

sys.exit(main(sys.argv))
