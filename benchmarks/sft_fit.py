"""Does a generator write its own training workflows? Greedy and unconstrained, on --n prompts of an
SFT file (spread over its tasks, one variant each): the share whose workflow calls the same
operators in the same order as the target, and the share that is the target exactly. A generator
that cannot write the workflows it was trained on will not write them for tasks it never saw; the
training loss (teacher-forced) does not tell this.

    .venv/bin/python benchmarks/sft_fit.py --data runs/synth-curriculum/sft.jsonl \
        --generator embedded+adapter:runs/sft-fit/adapter [--n 12] [--json out.json]
"""
from __future__ import annotations

import argparse
import ast
import asyncio
import json
from pathlib import Path


def operator_calls(source: str) -> list[str] | None:
    """The `ops.NAME` calls of a workflow in source order; None when it does not parse."""
    from flowforge.generator.parse import extract_code

    try:
        tree = ast.parse(extract_code(source))
    except SyntaxError:
        return None
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and isinstance(n.func.value, ast.Name) and n.func.value.id == "ops"]
    return [c.func.attr for c in sorted(calls, key=lambda c: (c.lineno, c.col_offset))]


def spread(rows: list[dict], n: int) -> list[dict]:
    """Up to n rows, round-robin over tasks, so that no task fills the sample."""
    by_task: dict[str, list[dict]] = {}
    for r in rows:
        by_task.setdefault(r["meta"]["task"], []).append(r)
    out, queues = [], list(by_task.values())
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


async def main(args) -> dict:
    from flowforge.llm import load_llm

    rows = spread([json.loads(line) for line in args.data.read_text().splitlines() if line.strip()], args.n)
    llm = load_llm(args.generator, cache=False)
    outs = await asyncio.gather(*(llm.complete(r["prompt"], temperature=0.0, max_tokens=args.max_tokens)
                                  for r in rows))
    cases = []
    for r, c in zip(rows, outs):
        text, want = c.texts[0], r["completion"]
        got_ops, want_ops = operator_calls(text), operator_calls(want)
        cases.append({"task": r["meta"]["task"], "template": r["meta"].get("template"), "opset": r["meta"].get("opset"),
                      "same_calls": got_ops == want_ops, "exact": text.strip() == want.strip(),
                      "calls": got_ops, "target_calls": want_ops})
        print(f"{'=' if got_ops == want_ops else 'x'} {r['meta']['task']:<28} {r['meta'].get('opset', ''):<16} "
              f"wrote {got_ops}  target {want_ops}")
    same, exact = sum(c["same_calls"] for c in cases), sum(c["exact"] for c in cases)
    print(f"same operator calls as the target: {same}/{len(cases)}; exactly the target: {exact}/{len(cases)}")
    return {"generator": args.generator, "data": str(args.data), "n": len(cases), "same_calls": same,
            "exact": exact, "cases": cases}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="an SFT JSONL file (train synth's sft.jsonl)")
    p.add_argument("--generator", required=True, help="model spec, e.g. embedded+adapter:PATH")
    p.add_argument("--n", type=int, default=12)
    p.add_argument("--max-tokens", type=int, default=200)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    res = asyncio.run(main(a))
    if a.json:
        a.json.write_text(json.dumps(res, indent=2) + "\n")
