"""Do delivered workflows run? For every held-out task, with the `default` and `novel` operator
sets: the workflow `flowforge generate` delivers (shipped generator, default settings), run on
the first 5 test instances with the embedded executor. "runs clean" = 0 instance errors.

    nice -n 5 .venv/bin/python benchmarks/heldout_delivered.py --json out/delivered.json
    nice -n 5 .venv/bin/python benchmarks/heldout_delivered.py --no-smoke   # without the smoke run

A few cells run at once (--cells-at-once), so the local backends batch their calls without
overloading the machine; --timeout is each instance's run limit (a timeout counts as an error).
"""
from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import time
from pathlib import Path


async def cell(task_name: str, operators: str, generator, executor, limit: int, smoke: bool, timeout_s: float) -> dict:
    from flowforge.generator.generate import generate_workflow
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task
    from flowforge.workflow.runtime import run_workflow_on_instances

    task, opset = get_task(task_name), load_operator_set(operators)
    kw = {"executor": executor}
    if "smoke" in inspect.signature(generate_workflow).parameters:
        kw["smoke"] = smoke
    gen = await generate_workflow(task, opset, generator, **kw)
    row = {"task": task.name, "operators": operators, "valid": gen.selected.valid, "selection": gen.selection,
           "error": gen.selected.error, "source": gen.selected.source, "errors": None, "score": None,
           "instance_errors": []}
    if gen.selected.valid:
        try:
            s = await run_workflow_on_instances(gen.selected.source, task, task.load("test", limit=limit),
                                                executor=executor, opset=opset, timeout_s=timeout_s)
            row.update(errors=s.errors, score=s.score,
                       instance_errors=[r.error[:160] for r in s.results if r.error])
        except Exception as e:  # a WorkflowError at run time counts as not running
            row.update(errors=limit, instance_errors=[f"{type(e).__name__}: {e}"[:160]])
    return row


def line(r: dict) -> str:
    """One cell's result (and its timeout count, added to the row)."""
    clean = r["valid"] and r["errors"] == 0
    r["timeouts"] = sum(e.startswith("Timeout") for e in r["instance_errors"])
    return (f"{r['task']:<45} {r['operators']:<8} valid={'y' if r['valid'] else 'n'} errors={r['errors']} "
            f"(timeouts {r['timeouts']}) clean={'y' if clean else 'n'} score={r['score']}  [{r['selection']}]")


async def main_async(args) -> list[dict]:
    from flowforge.evaluation.suites import HELD_OUT
    from flowforge.generator import default_generator_spec
    from flowforge.llm import load_llm

    generator = load_llm(args.generator or default_generator_spec())
    executor = load_llm(args.executor)
    gate = asyncio.Semaphore(args.cells_at_once)

    async def gated(t: str, o: str) -> dict:
        async with gate:
            row = await cell(t, o, generator, executor, args.limit, not args.no_smoke, args.timeout)
        print(f"done: {line(row)}", flush=True)
        return row

    return list(await asyncio.gather(*[gated(t, o) for o in args.operators.split(",") for t in HELD_OUT]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--generator", default=None, help="default: the shipped generator")
    p.add_argument("--executor", default="embedded")
    p.add_argument("--operators", default="default,novel")
    p.add_argument("--limit", type=int, default=5)
    p.add_argument("--no-smoke", action="store_true")
    p.add_argument("--cells-at-once", type=int, default=6)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per instance run")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    t0 = time.perf_counter()
    rows = asyncio.run(main_async(args))
    for r in rows:
        print(line(r))
        for e in r["instance_errors"][:2]:
            print(f"      {e}")
    n_clean = sum(r["valid"] and r["errors"] == 0 for r in rows)
    print(f"runs clean: {n_clean}/{len(rows)} (0 errors on {args.limit} test instances); "
          f"valid: {sum(r['valid'] for r in rows)}/{len(rows)}; {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
