"""Local engines side by side: transformers (fp32) vs CTranslate2 (int8) on the embedded model.

Each engine runs in its own subprocess (so peak RSS is its own), through the LLM interface
(micro-batched), on the same prompts: for each batch size B, B distinct chat prompts, greedy,
--tokens new tokens per request at most; tokens/s = completion tokens / wall time, best of
--repeats. Then the share of rows whose greedy output is identical across the engines (the B=max
prompts), and the reference workflow's score with each engine as executor (one more subprocess
each): --workflow on the first --instances test instances of --task. The last line is the
speed-up at batch 8.

    nice -n 5 .venv/bin/python benchmarks/engine_throughput.py [--tokens 64] [--sizes 1 8 32]
        [--instances 50] [--task bbh/boolean_expressions] [--workflow cot]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINES = ("transformers", "ct2")


def prompts(b: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"Write a short story about a robot named Unit-{i}."}] for i in range(b)]


async def _batch(llm, msgs, tokens: int) -> tuple[float, int, list[str]]:
    t0 = time.perf_counter()
    outs = await asyncio.gather(*(llm.complete(m, max_tokens=tokens) for m in msgs))
    return time.perf_counter() - t0, sum(c.usage.completion_tokens for c in outs), [c.texts[0] for c in outs]


async def _score(llm, args) -> dict:
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task
    from flowforge.workflow.runtime import run_workflow_on_instances

    root = Path(__file__).resolve().parent.parent
    source = (root / "src/flowforge/workflow/reference" / f"{args.workflow}.py").read_text()
    task = get_task(args.task)
    instances = task.load("test", limit=args.instances)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        s = await run_workflow_on_instances(source, task, instances, executor=llm, opset=load_operator_set("default"),
                                            concurrency=16, out_dir=Path(out), max_tokens=args.max_tokens)
    first_error = next((r.error for r in s.results if r.error), None)
    return {"score": s.score, "errors": s.errors, "n": s.n, "seconds": time.perf_counter() - t0,
            "first_error": first_error}


async def worker(args) -> dict:
    """One engine, in this process: throughput per batch size and greedy texts (--phase speed), or
    the workflow score (--phase score); peak RSS either way."""
    from flowforge.llm import load_llm

    llm = load_llm(f"embedded@{args.worker}", cache=False)
    t0 = time.perf_counter()
    await llm.complete(prompts(1)[0], max_tokens=2)  # load (and on first use convert) the weights
    res = {"engine": args.worker, "load_s": time.perf_counter() - t0, "tok_s": {}, "texts": {}}
    if args.phase == "speed":
        for b in args.sizes:
            runs = [await _batch(llm, prompts(b), args.tokens) for _ in range(args.repeats)]
            res["tok_s"][b] = max(tok / dt for dt, tok, _ in runs)
            res["texts"][b] = runs[0][2]
            print(f"  {args.worker} B={b}: {res['tok_s'][b]:.1f} tok/s", file=sys.stderr, flush=True)
    else:
        res["workflow"] = await _score(llm, args)
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--repeats", type=int, default=1, help="best of N runs per cell")
    ap.add_argument("--instances", type=int, default=50, help="workflow instances per engine (0: skip)")
    ap.add_argument("--task", default="bbh/boolean_expressions")
    ap.add_argument("--workflow", default="cot")
    ap.add_argument("--max-tokens", type=int, default=128, help="cap on each executor call in the workflow")
    ap.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--phase", choices=("speed", "score"), default="speed", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(worker(args))))
        return

    def run(engine: str, phase: str) -> dict:
        cmd = [sys.executable, __file__, "--worker", engine, "--phase", phase, *sys.argv[1:]]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # progress goes to stderr
        if p.returncode != 0:
            sys.exit(f"{engine} worker failed (exit {p.returncode})")
        return json.loads(p.stdout.strip().splitlines()[-1])

    res = {e: run(e, "speed") for e in ENGINES}
    tr, ct = res["transformers"], res["ct2"]
    for e in ENGINES:
        print(f"{e:>12}: loaded in {res[e]['load_s']:.1f}s, peak RSS {res[e]['peak_rss_mib']:.0f} MiB", flush=True)
    print(f"greedy, <= {args.tokens} new tokens per request, tokens/s through the LLM interface")
    print(f"{'B':>3} {'transformers':>13} {'ct2 int8':>9} {'speed-up':>9}")
    for b in args.sizes:
        t, c = tr["tok_s"][str(b)], ct["tok_s"][str(b)]
        print(f"{b:>3} {t:>13.1f} {c:>9.1f} {c / t:>8.2f}×")
    big = str(max(args.sizes))
    same = sum(a == b for a, b in zip(tr["texts"][big], ct["texts"][big]))
    print(f"greedy agreement: {same}/{len(tr['texts'][big])} rows identical ({100 * same / len(tr['texts'][big]):.0f}%)",
          flush=True)
    if args.instances:
        for e in ENGINES:
            w = run(e, "score")["workflow"]
            print(f"{args.workflow} on {args.task} ({w['n']} test instances), executor embedded@{e}: "
                  f"score {w['score']:.3f}, errors {w['errors']}, {w['seconds']:.0f}s"
                  + (f" (first error: {w['first_error'][:200]})" if w["first_error"] else ""), flush=True)
    if "8" in tr["tok_s"]:
        print(f"speed-up at batch 8: {ct['tok_s']['8'] / tr['tok_s']['8']:.2f}×")


if __name__ == "__main__":
    main()
