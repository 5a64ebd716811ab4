"""Run every bench/bench_*.py module in turn: ``python -m bench.run_all [--quick] [--modules core,slack]``.

Each module runs in its own interpreter (``python -m bench.<module>``) so one failing or leaking
benchmark cannot disturb the next; extra arguments (e.g. ``--quick``) are passed to every module.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def modules() -> list[str]:
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n")[0],
                                 epilog="Any other argument (e.g. --quick) is passed to every module.")
    ap.add_argument("--modules", help="comma list of module suffixes, e.g. core,slack")
    args, passthrough = ap.parse_known_args(argv)
    mods = modules()
    if args.modules:
        wanted = {f"bench_{m.strip().removeprefix('bench_')}" for m in args.modules.split(",")}
        mods = [m for m in mods if m in wanted]
    if not mods:
        print("no benchmark modules found", file=sys.stderr)
        return 2
    results: list[tuple[str, int, float]] = []
    for m in mods:
        print(f"\n######## bench.{m} {' '.join(passthrough)}", flush=True)
        t0 = time.monotonic()
        try:
            rc = subprocess.run([sys.executable, "-m", f"bench.{m}", *passthrough], cwd=HERE.parent).returncode
        except KeyboardInterrupt:
            print(f"\ninterrupted during bench.{m}", file=sys.stderr)
            return 130
        results.append((m, rc, time.monotonic() - t0))
    print("\n######## summary")
    for m, rc, dt in results:
        print(f"  bench.{m:<16} {'ok' if rc == 0 else f'FAILED (exit {rc})':<18} {dt:6.0f} s")
    return 0 if all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
