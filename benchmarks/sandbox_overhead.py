"""Per-call overhead of Sandbox.run vs a plain `subprocess.run([python, "-c", code])`, per level.

Command: `.venv/bin/python benchmarks/sandbox_overhead.py [--n 30]`
Prints, for each available isolation level, the median wall time (ms) of a trivial program run
plainly and in the sandbox, and the median overhead (target: <= 50 ms).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from flowforge.sandbox import Limits, get_sandbox
from flowforge.sandbox.core import _probe

CODE = "x = sum(range(1000))\nprint(x)"


def median_ms(fn, n: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    n = ap.parse_args().n
    for level in ("rlimits", "namespaces"):
        why = _probe(level)
        if why is not None:
            print(f"{level:10s} unavailable: {why}")
            continue
        box = get_sandbox(level)
        limits = Limits(wall_s=10, isolation=level)
        plain = median_ms(lambda: subprocess.run([box.python, "-c", CODE], capture_output=True, check=True), n)
        sand = median_ms(lambda: box.run(CODE, limits), n)
        print(f"{level:10s} python={box.python}  plain {plain:6.1f} ms  sandbox {sand:6.1f} ms  "
              f"overhead {sand - plain:6.1f} ms (median of {n})")


if __name__ == "__main__":
    main()
