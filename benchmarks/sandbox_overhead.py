"""Per-call overhead of the sandbox vs a plain `subprocess.run([python, "-c", code])`, per level.

Command: `.venv/bin/python benchmarks/sandbox_overhead.py [--n 30]`
(another checkout: `PYTHONPATH=../other/src .venv/bin/python benchmarks/sandbox_overhead.py`)
Prints, for each isolation level that works here, the median wall time (ms) of a trivial program
run plainly, through `Sandbox.run`, and through `run_tests` (program + one test, which runs the
program and the tests in two sandboxed processes), and the median overhead of each over plain.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import flowforge.sandbox as sandbox
from flowforge.sandbox import Limits, get_sandbox
from flowforge.sandbox.core import _probe

# the level names of the checkout on sys.path, so the same script measures another checkout
# (PYTHONPATH=other/src) side by side
LEVELS = getattr(sandbox, "LEVELS", ("rlimits", "namespaces"))

CODE = "x = sum(range(1000))\nprint(x)"
PROGRAM, TESTS = "def f(x):\n    return x * 2", ["assert f(21) == 42"]


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
    for level in LEVELS:
        why = _probe(level)
        if why is not None:
            print(f"{level:14s} unavailable: {why}")
            continue
        box = get_sandbox(level)
        limits = Limits(wall_s=10, isolation=level)
        plain = median_ms(lambda: subprocess.run([box.python, "-c", CODE], capture_output=True, check=True), n)
        run = median_ms(lambda: box.run(CODE, limits), n)
        tests = median_ms(lambda: box.run_tests(PROGRAM, TESTS, limits=limits), n)
        print(f"{level:14s} python={box.python}  plain {plain:6.1f} ms  run {run:6.1f} ms (overhead {run - plain:6.1f})"
              f"  run_tests {tests:6.1f} ms (overhead {tests - plain:6.1f})  median of {n}")


if __name__ == "__main__":
    main()
