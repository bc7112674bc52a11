"""The curriculum's oracle table: which families carry signal before any training.

For every procedural family (`synth/*`): io, cot, every reference workflow, every reference
composition (tasks/synth/compositions.py), and the oracle, the candidate with the best validate
score, scored on test. Tool-only workflows run first (seconds), then the executor-bound ones
in a fixed order (io, cot, then the rest), so an interrupted run still has its cheapest and most
important cells. Every cell is a resumable run dir under --out; rerunning skips finished
instances, and the JSON is rewritten after every cell.

    nice -n 5 .venv/bin/python benchmarks/curriculum.py --out runs/curriculum --json results/curriculum.json
    nice -n 5 .venv/bin/python benchmarks/curriculum.py --n-test 5 --n-validate 5 --families nested_arith,two_hop
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from pathlib import Path

# Operators that call the executor; a workflow using none of them is tool-only.
EXECUTOR_IMPLS = {"generate", "answer_generate", "code_generate", "programmer", "test", "sc_ensemble", "review",
                  "revise", "format", "decompose", "verify"}
# Executor-bound workflows in the order they run (cheapest and most telling first); others follow.
FIRST = ["io", "cot", "comp:spec_formula", "comp:spec_mapping", "comp:spec_piecewise", "comp:code_retry", "code_test",
         "retrieve_answer", "self_refine", "programmer_sc", "cot_sc"]


def candidates() -> dict[str, str]:
    """name -> workflow source: the reference workflows, then the reference compositions."""
    from flowforge.tasks.synth.compositions import COMPOSITIONS
    from flowforge.workflow.reference import reference_names, reference_path

    refs = {n: reference_path(n).read_text() for n in reference_names()}
    return {**refs, **{f"comp:{n}": s for n, s in COMPOSITIONS.items()}}


def uses_executor(source: str, opset) -> bool:
    import ast

    from flowforge.workflow.validate import operators_used

    impls = {op.name: op.impl for op in opset.operators}
    return any(impls.get(name) in EXECUTOR_IMPLS for name in operators_used(ast.parse(source)))


async def run_cell(family: str, split: str, name: str, source: str, n: int, args, executor, opset) -> dict:
    from flowforge.tasks import get_task
    from flowforge.workflow.runtime import run_workflow_on_instances

    task = get_task(f"synth/{family}")
    out = args.out / family / split / name.replace(":", "_")
    s = await run_workflow_on_instances(source, task, task.load(split, limit=n), executor=executor, opset=opset,
                                        concurrency=args.concurrency, out_dir=out, max_tokens=args.max_tokens,
                                        meta={"split": split})
    return {"score": s.score, "stderr": s.stderr, "n": s.scored, "errors": s.errors,
            "calls_per_instance": s.usage.calls / max(1, s.n), "seconds": round(s.seconds, 1)}


def cell_from_dir(path: Path) -> dict | None:
    """A cell from a run dir's results.jsonl as far as it got (None if it has no results)."""
    from flowforge.workflow.runtime import standard_error

    lines = path / "results.jsonl"
    if not lines.exists():
        return None
    rows = [json.loads(ln) for ln in lines.read_text().splitlines() if ln.strip()]
    scores = [float(r["score"]) for r in rows if r.get("score") is not None and not math.isnan(float(r["score"]))]
    if not scores:
        return None
    return {"score": sum(scores) / len(scores), "stderr": standard_error(scores), "n": len(scores),
            "errors": sum(bool(r.get("error")) for r in rows)}


def oracle(cells: dict[str, dict], names: list[str]) -> dict | None:
    """The candidate with the best validate score (ties: listed first), with its test cell."""
    scored = [(cells[f"validate/{n}"]["score"], -i, n) for i, n in enumerate(names)
              if f"validate/{n}" in cells and not math.isnan(cells[f"validate/{n}"]["score"])]
    if not scored:
        return None
    _, _, best = max(scored)
    test = cells.get(f"test/{best}")
    pool = sum(f"validate/{n}" in cells for n in names)
    return {"workflow": best, "validate": cells[f"validate/{best}"]["score"], "pool": f"{pool}/{len(names)}",
            **({"test": test["score"], "stderr": test["stderr"], "n": test["n"]} if test else {"test": None})}


def stamp(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {what}", flush=True)


def write_json(path: Path, table: dict, meta: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"meta": meta, "families": table}, indent=1, default=str))
    tmp.replace(path)


def print_table(table: dict, names: list[str]) -> None:
    """One row per family: io, cot and every other reference workflow on test (n in brackets where
    fewer than asked), the oracle's pick and its test score, and the spread oracle - io."""
    refs = ["io", "cot"] + [n for n in names if not n.startswith("comp:") and n not in ("io", "cot")]

    def t(cells: dict, n: str) -> str:
        c = cells.get(f"test/{n}")
        return "-" if c is None or c.get("skipped") else f"{c['score']:.2f}"

    print(f"{'family':<19}{'held':<5}" + "".join(f"{r[:9]:>10}" for r in refs) + f"{'oracle (chosen on validate)':>33}"
          f"{'test':>6}{'n':>4}{'-io':>7}")
    for fam, row in table.items():
        cells, o = row["cells"], row.get("oracle") or {}
        io = cells.get("test/io", {}).get("score")
        ot = o.get("test")
        spread = f"{ot - io:+.2f}" if ot is not None and io is not None else "-"
        print(f"{fam:<19}{'yes' if row['heldout'] else '':<5}" + "".join(f"{t(cells, r):>10}" for r in refs)
              + f"{o.get('workflow', '-'):>33}{'-' if ot is None else f'{ot:.2f}':>6}{o.get('n', 0):>4}{spread:>7}")
    print("n per cell: " + ", ".join(sorted({f"{r}={c['n']}" for row in table.values()
                                             for k, c in row["cells"].items() if k.startswith("test/")
                                             for r in [k[5:]] if r in refs})))


async def main_async(args) -> None:
    from flowforge.llm import load_llm
    from flowforge.operators import load_operator_set
    from flowforge.tasks.synth import FAMILIES

    families = args.families.split(",") if args.families else list(FAMILIES)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        print(f"unknown family {unknown[0]!r}; known: {', '.join(FAMILIES)}", file=sys.stderr)
        raise SystemExit(2)
    opset = load_operator_set("default")
    executor = load_llm(args.executor)
    pool = candidates()
    if args.workflows:
        wanted = args.workflows.split(",")
        missing = [w for w in wanted if w not in pool]
        if missing:
            print(f"unknown workflow {missing[0]!r}; known: {', '.join(pool)}", file=sys.stderr)
            raise SystemExit(2)
        pool = {n: s for n, s in pool.items() if n in wanted}
    names = list(pool)
    tools = [n for n in names if not uses_executor(pool[n], opset)]
    llm = sorted((n for n in names if n not in tools), key=lambda n: (n not in FIRST, FIRST.index(n) if n in FIRST else 0))
    table = {f: {"heldout": FAMILIES[f].heldout, "cells": {}} for f in families}
    meta = {"executor": args.executor, "n_test": args.n_test, "n_validate": args.n_validate,
            "max_tokens": args.max_tokens, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    args.json.parent.mkdir(parents=True, exist_ok=True)

    async def do(fam: str, split: str, name: str, n: int) -> None:
        key = f"{split}/{name}"
        if table[fam]["cells"].get(key, {}).get("n", -1) >= n or "skipped" in table[fam]["cells"].get(key, {}):
            return
        try:
            cell = await run_cell(fam, split, name, pool[name], n, args, executor, opset)
        except Exception as e:  # a candidate that does not fit this task (e.g. needs context it lacks)
            cell = {"score": float("nan"), "stderr": None, "n": 0, "errors": n,
                    "skipped": " ".join(str(e).split())[:160]}
        table[fam]["cells"][key] = cell
        table[fam]["oracle"] = oracle(table[fam]["cells"], names)
        write_json(args.json, table, {**meta, "updated": time.strftime("%H:%M:%S", time.gmtime())})

    if args.summarise_only:  # read what the run dirs hold, whatever n they reached; run nothing
        for fam in families:
            for key in (f"{sp}/{n}" for n in names for sp in ("validate", "test")):
                cell = cell_from_dir(args.out / fam / key.replace(":", "_"))
                if cell:
                    table[fam]["cells"][key] = cell
            table[fam]["oracle"] = oracle(table[fam]["cells"], names)
        write_json(args.json, table, {**meta, "summarised": True, "n_test": "as reached per cell"})
        print_table(table, names)
        return

    async def oracle_tests() -> None:  # the oracle's pick, scored on test
        await asyncio.gather(*[do(f, "test", table[f]["oracle"]["workflow"], args.n_test) for f in families
                               if table[f].get("oracle")])

    for fam in families:  # 1. tool-only candidates on validate: fast and deterministic
        await asyncio.gather(*[do(fam, "validate", n, args.n_validate) for n in tools])
    await oracle_tests()
    stamp(f"tool-only candidates on validate, and the oracle's pick on test")
    # 2. executor-bound candidates, all families at once so the backend batches their calls, in
    # rounds of growing n: an interrupted run has io and cot on every family first.
    for n in sorted({min(r, args.n_test) for r in args.rounds} | {args.n_test}):
        for name in llm:
            await asyncio.gather(*[do(fam, "test", name, n) for fam in families])
            stamp(f"{name} on test, n={n}")
        for name in llm:
            await asyncio.gather(*[do(fam, "validate", name, min(n, args.n_validate)) for fam in families])
        await oracle_tests()
        stamp(f"executor-bound candidates on validate, n={min(n, args.n_validate)}")
    print_table(table, names)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--executor", default="embedded")
    p.add_argument("--families", default="", help="comma-separated family names (default: all)")
    p.add_argument("--workflows", default="", help="comma-separated candidate names (default: all)")
    p.add_argument("--n-test", type=int, default=50)
    p.add_argument("--n-validate", type=int, default=10, help="instances per candidate for the oracle's choice")
    p.add_argument("--rounds", type=lambda t: [int(x) for x in t.split(",")], default=[10, 25],
                   help="n of the executor-bound test cells before the full --n-test")
    p.add_argument("--max-tokens", type=int, default=None, help="cap on every executor call")
    p.add_argument("--concurrency", type=int, default=3, help="instances at once per cell")
    p.add_argument("--out", type=Path, default=Path("runs/curriculum"))
    p.add_argument("--summarise-only", action="store_true",
                   help="build the table from the run dirs under --out as far as they got; run nothing")
    p.add_argument("--json", type=Path, default=Path("results/curriculum.json"))
    args = p.parse_args()
    if args.n_test < 1 or args.n_validate < 1:
        print("--n-test and --n-validate must be at least 1", file=sys.stderr)
        raise SystemExit(2)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
