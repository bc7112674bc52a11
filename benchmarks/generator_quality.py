"""Generator quality per task: validity %, operators used, the mean score of the generated
workflows on a small slice, and the generator prompt's token count (target <= 700 with the
default operator set).

    .venv/bin/python benchmarks/generator_quality.py --generator embedded --tasks gsm8k,bbh/snarks,hotpotqa
    .venv/bin/python benchmarks/generator_quality.py --generator hf:runs/sft/final --samples 4 --limit 8 \
        --tasks gsm8k,drop --operators default --json out/genq.json

Slices: training tasks are scored on their training side (first of train_splits: train/validate),
held-out tasks on test (they have nothing else; this is a diagnostic, not a reported figure).
Sample 1 is greedy; samples 2..K use temperature 0.8 with seeds 1..K-1. Mean score counts an
invalid workflow as 0 ("mean all") and also over valid ones only ("mean valid").
"delivered" is what `flowforge generate` hands the user: the greedy workflow, or, when it is
invalid, the first valid of up to --attempts samples (validator-guided resampling).
Operator calls (names, keyword arguments) are constrained while decoding on local generators, as
in `flowforge generate`; --no-constrain measures the unconstrained model.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table


async def task_quality(task_name: str, opset, generator, executor, samples: int, limit: int,
                       max_tokens: int | None = None, attempts: int = 8, constrain: bool = True) -> dict:
    from flowforge.generator.generate import generate_workflow, sample_workflows
    from flowforge.tasks import get_task
    from flowforge.workflow.runtime import run_workflow_on_instances
    from flowforge.workflow.validate import operators_used, validate_workflow

    task = get_task(task_name)
    gens = await asyncio.gather(*[
        sample_workflows(task, opset, generator, n=1, temperature=0.0 if i == 0 else 0.8, seed=i, constrain=constrain)
        for i in range(samples)])
    cands = [g.candidates[0] for g in gens]
    delivered = await generate_workflow(task, opset, generator, attempts=attempts, constrain=constrain)
    split = (task.train_splits or ["test"])[0] if not task.heldout else "test"
    instances = task.load(split, limit=limit) if limit > 0 else []
    scores, ops, cache = [], {}, {}
    for c in cands:
        if not c.valid:
            scores.append(None)
            continue
        for op in operators_used(validate_workflow(c.source, opset)):
            ops[op] = ops.get(op, 0) + 1
        if not instances:  # --limit 0: validity only
            continue
        if c.source not in cache:
            cache[c.source] = (await run_workflow_on_instances(c.source, task, instances, executor=executor,
                                                               opset=opset, max_tokens=max_tokens)).score
        scores.append(cache[c.source])
    valid = [s for s in scores if s is not None]
    return {
        "task": task.name, "split": split, "constrained": gens[0].constrained, "n_instances": len(instances),
        "samples": samples,
        "validity": sum(c.valid for c in cands) / samples,
        "greedy_valid": cands[0].valid,
        "delivered_valid": delivered.selected.valid,
        "delivered_attempt": delivered.attempt,
        "operators": ops,
        "mean_all": (sum(0.0 if s is None or math.isnan(s) else s for s in scores) / samples) if instances else None,
        "mean_valid": sum(valid) / len(valid) if valid else None,
        "prompt_tokens": gens[0].usage.prompt_tokens,
        "generator_tokens": sum(g.usage.tokens for g in gens),
        "errors": [c.error for c in cands if not c.valid][:3],
    }


async def main_async(args) -> list[dict]:
    from flowforge.llm import load_llm
    from flowforge.operators import load_operator_set

    opset = load_operator_set(args.operators)
    generator = load_llm(args.generator)
    executor = generator if args.executor == args.generator else load_llm(args.executor)
    return list(await asyncio.gather(*[  # all tasks at once: their calls share the local backend's batches
        task_quality(t.strip(), opset, generator, executor, args.samples, args.limit, args.max_tokens, args.attempts,
                     not args.no_constrain)
        for t in args.tasks.split(",") if t.strip()]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--generator", default="embedded")
    p.add_argument("--tasks", default="gsm8k,bbh/boolean_expressions,hotpotqa")
    p.add_argument("--operators", default="default")
    p.add_argument("--executor", default="embedded")
    p.add_argument("--samples", type=int, default=1)
    p.add_argument("--limit", type=int, default=4, help="instances per task for scores; 0: validity only")
    p.add_argument("--max-tokens", type=int, default=None, help="cap on every executor call's completion tokens")
    p.add_argument("--attempts", type=int, default=8, help="attempts for the delivered workflow (as `generate --attempts`)")
    p.add_argument("--no-constrain", action="store_true", help="sample without constraining operator calls")
    p.add_argument("--json", type=Path, default=None, help="also save the rows as JSON here")
    args = p.parse_args()
    from flowforge.errors import UserError

    try:
        rows = asyncio.run(main_async(args))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    constrained = "operator calls constrained" if rows and rows[0]["constrained"] else "unconstrained"
    table = Table(title=f"generator quality: {args.generator} (operators: {args.operators}; {constrained})")
    for col in ("task", "split", "valid %", "greedy", "delivered", "operators used", "mean all", "mean valid",
                "prompt tokens"):
        table.add_column(col, justify="left" if col in ("task", "operators used") else "right")
    for r in rows:
        table.add_row(r["task"], r["split"], f"{100 * r['validity']:.0f}", "✓" if r["greedy_valid"] else "✗",
                      f"✓ ({r['delivered_attempt']})" if r["delivered_valid"] else "✗",
                      ", ".join(f"{k}×{v}" if v > 1 else k for k, v in r["operators"].items()) or "—",
                      "—" if r["mean_all"] is None else f"{r['mean_all']:.3f}",
                      "—" if r["mean_valid"] is None else f"{r['mean_valid']:.3f}",
                      f"[red]{r['prompt_tokens']}[/red]" if r["prompt_tokens"] > 700 else str(r["prompt_tokens"]))
    Console().print(table)
    n = len(rows)
    print(f"valid per sample {100 * sum(r['validity'] for r in rows) / n:.0f}%  "
          f"greedy {100 * sum(r['greedy_valid'] for r in rows) / n:.0f}%  "
          f"delivered (<= {args.attempts} attempts) {100 * sum(r['delivered_valid'] for r in rows) / n:.0f}%  "
          f"over {n} tasks")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
