"""Demo: ignores SIGTERM, so stopping it must escalate to SIGKILL."""

import signal
import time

signal.signal(signal.SIGTERM, lambda *_: print("SIGTERM received, ignoring it", flush=True))
print("stubborn service up; it ignores SIGTERM", flush=True)
while True:
    time.sleep(3600)
