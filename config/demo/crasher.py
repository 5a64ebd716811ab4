"""Demo: a flaky worker that crashes with exit code 3 after about 20 seconds."""

import random
import sys
import time

print("flaky worker up", flush=True)
for i in range(20):
    print(f"tick {i}: queue depth {random.randint(0, 40)}", flush=True)
    time.sleep(1)
print("ERROR: lost connection to queue broker (password=hunter2 masked in alerts)", file=sys.stderr, flush=True)
sys.exit(3)
