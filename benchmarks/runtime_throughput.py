"""Runtime throughput: the reference cot_sc workflow (5 samples + vote) on gsm8k test instances with the
embedded executor (on its default engine, ct2 when installed), at concurrency 1 and 16. Prints
instances/s for each, their ratio, and the framework overhead: the share of wall time during which
no executor call is in flight (workflow child processes, operator dispatch, tracing, scoring,
run-dir writes). Targets: ratio >= 5x, overhead <= 5%.
The response cache is bypassed so both runs do the same work.

    .venv/bin/python benchmarks/runtime_throughput.py              # 32 instances, 32 tokens/call
    .venv/bin/python benchmarks/runtime_throughput.py --n 8 --max-tokens 16
    .venv/bin/python benchmarks/runtime_throughput.py --executor embedded@transformers
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from flowforge.llm import load_llm
from flowforge.operators import load_operator_set
from flowforge.tasks import get_task
from flowforge.workflow.runtime import run_workflow_on_instances

ROOT = Path(__file__).resolve().parent.parent


class TimedLLM:
    """Wraps an executor and records (start, end) of every call."""

    def __init__(self, llm):
        self.llm, self.name, self.usage, self.spans = llm, llm.name, llm.usage, []

    async def complete(self, messages, **kw):
        t0 = time.perf_counter()
        try:
            return await self.llm.complete(messages, **kw)
        finally:
            self.spans.append((t0, time.perf_counter()))


def busy_seconds(spans: list[tuple[float, float]]) -> float:
    """Length of the union of intervals."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


async def measure(concurrency: int, instances, task, llm, max_tokens: int) -> dict:
    timed = TimedLLM(llm)
    source = (ROOT / "src/flowforge/workflow/reference" / "cot_sc.py").read_text()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        s = await run_workflow_on_instances(source, task, instances, executor=timed, opset=load_operator_set("default"),
                                            concurrency=concurrency, out_dir=Path(out), max_tokens=max_tokens)
        wall = time.perf_counter() - t0
    busy = busy_seconds(timed.spans)
    return {"concurrency": concurrency, "wall_s": wall, "inst_per_s": len(instances) / wall,
            "overhead_pct": 100 * (wall - busy) / wall, "score": s.score, "errors": s.errors,
            "calls": s.usage.calls, "tokens": s.usage.tokens}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--executor", default="embedded")
    args = ap.parse_args()
    task = get_task("gsm8k")
    instances = task.load("test", limit=args.n)
    llm = load_llm(args.executor, cache=False)
    await llm.complete([{"role": "user", "content": "hi"}], max_tokens=1)  # load weights first
    rows = []
    for c in (1, 16):
        r = await measure(c, instances, task, llm, args.max_tokens)
        rows.append(r)
        print(f"concurrency {r['concurrency']:>2}: {r['inst_per_s']:.3f} inst/s  wall {r['wall_s']:.1f}s  "
              f"overhead {r['overhead_pct']:.1f}%  score {r['score']:.3f}  errors {r['errors']}  "
              f"calls {r['calls']}  tokens {r['tokens']}", flush=True)
    ratio = rows[1]["inst_per_s"] / rows[0]["inst_per_s"]
    print(f"ratio 16 vs 1: {ratio:.2f}x (target >= 5x); overhead at 16: {rows[1]['overhead_pct']:.1f}% (target <= 5%)")


if __name__ == "__main__":
    asyncio.run(main())
