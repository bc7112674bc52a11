"""Generator quality per task: validity %, whether the workflows *run clean* (valid, and no
instance error on the slice), operators used, the mean score of the generated workflows on a
small slice, and the generator prompt's token count (target <= 700 with the default operator set).

    .venv/bin/python benchmarks/generator_quality.py --generator embedded --tasks gsm8k,bbh/snarks,hotpotqa
    .venv/bin/python benchmarks/generator_quality.py --generator hf:runs/sft/final --samples 4 --limit 8 \
        --tasks gsm8k,drop --operators default --json out/genq.json
    .venv/bin/python benchmarks/generator_quality.py --suite training,held-out,novel   # per-suite summary

Suites: `training` (the tasks the generator trains on, default set), `held-out` (default set) and
`novel` (the held-out tasks with the evaluation-only `novel` set).
Slices: training tasks are scored on their training side (first of train_splits: train/validate),
held-out tasks on test (they have nothing else; this is a diagnostic, not a reported figure).
Sample 1 is greedy; samples 2..K use temperature 0.8 with seeds 1..K-1. Mean score counts an
invalid workflow as 0 ("mean all") and also over valid ones only ("mean valid").
"delivered" is what `flowforge generate` hands the user: the greedy workflow, or, when it is
invalid or crashes in its smoke run, the first of up to --attempts samples that is valid and
survives its smoke run (--no-smoke: validity only). "clean" = valid and 0 errors on the slice.
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
                       max_tokens: int | None = None, attempts: int = 8, constrain: bool = True,
                       smoke: bool = True) -> dict:
    from flowforge.generator.generate import SAMPLE_TEMPERATURE, generate_workflow, sample_workflows
    from flowforge.tasks import get_task
    from flowforge.workflow.runtime import run_workflow_on_instances
    from flowforge.workflow.validate import operators_used, validate_workflow

    task = get_task(task_name)
    gens = await asyncio.gather(*[
        sample_workflows(task, opset, generator, n=1, temperature=0.0 if i == 0 else SAMPLE_TEMPERATURE, seed=i, constrain=constrain)
        for i in range(samples)])
    cands = [g.candidates[0] for g in gens]
    delivered = await generate_workflow(task, opset, generator, attempts=attempts, constrain=constrain,
                                        executor=executor, smoke=smoke)
    split = (task.train_splits or ["test"])[0] if not task.heldout else "test"
    instances = task.load(split, limit=limit) if limit > 0 else []
    bound = opset.for_task(task)
    scores, clean, ops, cache = [], [], {}, {}

    async def run(source: str) -> tuple[float, int]:  # (mean score, instance errors), once per source
        if source not in cache:
            s = await run_workflow_on_instances(source, task, instances, executor=executor, opset=opset,
                                                max_tokens=max_tokens)
            cache[source] = (s.score, s.errors)
        return cache[source]

    for c in cands:
        if not c.valid:
            scores.append(None)
            clean.append(False)
            continue
        for op in operators_used(validate_workflow(c.source, bound)):
            ops[op] = ops.get(op, 0) + 1
        if not instances:  # --limit 0: validity only
            continue
        score, errors = await run(c.source)
        scores.append(score)
        clean.append(errors == 0)
    delivered_clean = bool(instances) and delivered.selected.valid and (await run(delivered.selected.source))[1] == 0
    valid = [s for s in scores if s is not None]
    return {
        "task": task.name, "opset": opset.name, "split": split, "constrained": gens[0].constrained,
        "n_instances": len(instances),
        "samples": samples,
        "validity": sum(c.valid for c in cands) / samples,
        "greedy_valid": cands[0].valid,
        "delivered_valid": delivered.selected.valid,
        "delivered_attempt": delivered.attempt,
        "clean": sum(clean) / samples if instances else None,
        "greedy_clean": clean[0] if instances else None,
        "delivered_clean": delivered_clean if instances else None,
        "delivered_smoke": str(delivered.smoke_result) if delivered.smoke_result else None,
        "operators": ops,
        "mean_all": (sum(0.0 if s is None or math.isnan(s) else s for s in scores) / samples) if instances else None,
        "mean_valid": sum(valid) / len(valid) if valid else None,
        "prompt_tokens": gens[0].usage.prompt_tokens,
        "generator_tokens": sum(g.usage.tokens for g in gens),
        "errors": [c.error for c in cands if not c.valid][:3],
    }


SUITES = {  # suite -> (tasks, operator set)
    "training": ("IN_DOMAIN", "default"), "held-out": ("HELD_OUT", "default"), "novel": ("HELD_OUT", "novel"),
}


def cells(args) -> list[tuple[str, str, str]]:
    """(suite, task, operator set) for every row to measure."""
    from flowforge.errors import UserError
    from flowforge.evaluation import suites

    if not args.suite:
        return [("", t.strip(), args.operators) for t in args.tasks.split(",") if t.strip()]
    out = []
    for name in args.suite.split(","):
        if name not in SUITES:
            raise UserError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
        tasks, operators = SUITES[name]
        out += [(name, t, operators) for t in getattr(suites, tasks)]
    return out


async def main_async(args) -> list[dict]:
    from flowforge.llm import load_llm
    from flowforge.operators import load_operator_set

    from flowforge.generator import default_generator_spec

    args.generator = args.generator or default_generator_spec()
    generator = load_llm(args.generator)
    executor = generator if args.executor == args.generator else load_llm(args.executor)
    todo = cells(args)
    sets = {o: load_operator_set(o) for _, _, o in todo}
    rows = await asyncio.gather(*[  # all tasks at once: their calls share the local backend's batches
        task_quality(t, sets[o], generator, executor, args.samples, args.limit, args.max_tokens, args.attempts,
                     not args.no_constrain, not args.no_smoke)
        for _, t, o in todo])
    return [{"suite": suite, **row} for (suite, _, _), row in zip(todo, rows)]


def pct(rows: list[dict], key: str) -> str:
    vals = [float(r[key]) for r in rows if r[key] is not None]
    return f"{100 * sum(vals) / len(vals):.0f}%" if vals else "—"


def suite_table(rows: list[dict], attempts: int) -> Table:
    table = Table(title=f"per suite: valid / runs clean (0 errors on the slice); delivered: <= {attempts} attempts")
    for col in ("suite", "tasks", "sample valid", "sample clean", "greedy valid", "greedy clean",
                "delivered valid", "delivered clean"):
        table.add_column(col, justify="left" if col == "suite" else "right")
    for suite in dict.fromkeys(r["suite"] for r in rows):
        rs = [r for r in rows if r["suite"] == suite]
        table.add_row(suite or "(tasks)", str(len(rs)), pct(rs, "validity"), pct(rs, "clean"), pct(rs, "greedy_valid"),
                      pct(rs, "greedy_clean"), pct(rs, "delivered_valid"), pct(rs, "delivered_clean"))
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--generator", default=None, help="generator spec (default: the shipped generator)")
    p.add_argument("--tasks", default="gsm8k,bbh/boolean_expressions,hotpotqa")
    p.add_argument("--operators", default="default")
    p.add_argument("--executor", default="embedded")
    p.add_argument("--suite", default=None, help="comma list of training, held-out, novel (instead of --tasks)")
    p.add_argument("--samples", type=int, default=1)
    p.add_argument("--limit", type=int, default=5, help="instances per task for scores and runs-clean; 0: validity only")
    p.add_argument("--max-tokens", type=int, default=None, help="cap on every executor call's completion tokens")
    p.add_argument("--attempts", type=int, default=8, help="attempts for the delivered workflow (as `generate --attempts`)")
    p.add_argument("--no-constrain", action="store_true", help="sample without constraining operator calls")
    p.add_argument("--no-smoke", action="store_true", help="deliver without the smoke run (as `generate --no-smoke`)")
    p.add_argument("--json", type=Path, default=None, help="also save the rows as JSON here")
    args = p.parse_args()
    from flowforge.errors import UserError

    try:
        rows = asyncio.run(main_async(args))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    constrained = "operator calls constrained" if rows and rows[0]["constrained"] else "unconstrained"
    table = Table(title=f"generator quality: {args.generator} ({constrained})")
    for col in ("task", "operators", "split", "valid %", "clean %", "greedy", "delivered", "operators used",
                "mean all", "mean valid", "prompt tokens"):
        table.add_column(col, justify="left" if col in ("task", "operators used") else "right")

    def mark(valid: bool, clean: bool | None, extra: str = "") -> str:
        return ("✗" if not valid else "✓ runs" if clean else "✓ crashes" if clean is False else "✓") + extra

    for r in rows:
        table.add_row(r["task"], r["opset"], r["split"], f"{100 * r['validity']:.0f}", pct([r], "clean"),
                      mark(r["greedy_valid"], r["greedy_clean"]),
                      mark(r["delivered_valid"], r["delivered_clean"], f" ({r['delivered_attempt']})" if r["delivered_valid"] else ""),
                      ", ".join(f"{k}×{v}" if v > 1 else k for k, v in r["operators"].items()) or "—",
                      "—" if r["mean_all"] is None else f"{r['mean_all']:.3f}",
                      "—" if r["mean_valid"] is None else f"{r['mean_valid']:.3f}",
                      f"[red]{r['prompt_tokens']}[/red]" if r["prompt_tokens"] > 700 else str(r["prompt_tokens"]))
    Console().print(table)
    Console().print(suite_table(rows, args.attempts))
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
