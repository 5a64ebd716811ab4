"""Demo: a steady worker that logs a heartbeat every few seconds."""

import itertools
import time

for n in itertools.count(1):
    print(f"heartbeat {n}: processed {n * 7} jobs", flush=True)
    time.sleep(5)
