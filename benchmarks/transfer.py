"""The transfer table's two rows that `flowforge eval` cannot make by itself.

    # 1. the best fixed workflow, chosen on the training families' validate cells of the oracle table
    .venv/bin/python benchmarks/transfer.py pick-fixed --out runs/transfer/best_fixed.py
    # 2. evaluate it beside the other methods on the held-out families
    flowforge eval --suite curriculum-held-out --limit 50 --out runs/eval-transfer \
        --methods io,cot,runs/transfer/best_fixed.py,search,generator:embedded,generator,...
    # 3. the eval table (its finished cells) plus the oracle row (an upper bound: it picks per family on validate)
    .venv/bin/python benchmarks/transfer.py table --eval runs/eval-transfer --methods io,cot,search,generator \
        --name 13-transfer --title "..." --command "flowforge eval ..."

The oracle and the candidates' validate scores come from `results/curriculum.json`
(benchmarks/curriculum.py). A candidate that cannot run on a family (an operator the family does
not serve) counts 0 there: a fixed workflow has to face every family.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

ORACLE_LABEL = "oracle (upper bound: best composition per family, picked on validate)"


def training_means(curriculum: dict) -> dict[str, float]:
    """Candidate -> mean validate score over the curriculum's training families (0 where it has no cell)."""
    from flowforge.tasks.synth import TRAINING

    fams = curriculum["families"]
    names = {k.split("/", 1)[1] for f in TRAINING for k in fams[f]["cells"] if k.startswith("validate/")}
    return {n: sum(fams[f]["cells"].get(f"validate/{n}", {}).get("score") or 0.0 for f in TRAINING) / len(TRAINING)
            for n in sorted(names)}


def pick_fixed(curriculum: dict, out: Path) -> str:
    from curriculum import candidates

    means = training_means(curriculum)
    best = max(means, key=lambda n: (means[n], n))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# The best fixed workflow on the curriculum's training families ({best}, mean validate "
                   f"{means[best]:.3f}), picked by benchmarks/transfer.py.\n" + candidates()[best])
    for n in sorted(means, key=means.get, reverse=True)[:5]:
        print(f"{means[n]:.3f}  {n}")
    return best


def oracle_row(columns: list[str], curriculum: dict) -> list[str]:
    """The oracle's test score under each family column of an eval table, then its mean ± stderr."""
    fams = curriculum["families"]
    row, scores, ses = [ORACLE_LABEL], [], []
    for col in columns[1:columns.index("mean")]:
        o = fams.get(col.removeprefix("synth/"), {}).get("oracle")
        row.append(f"{o['test']:.3f} ± {o['stderr']:.3f}" if o else "—")
        if o:
            scores.append(o["test"])
            ses.append(o["stderr"])
    mean = f"{sum(scores) / len(scores):.3f} ± {math.sqrt(sum(s * s for s in ses)) / len(ses):.3f}" if scores else "—"
    return row + [mean] + ["—"] * (len(columns) - len(row) - 1)


def finished_cells(eval_dir: Path, methods: list[str]) -> list:
    """The eval dir's finished cells of `methods`, in that order (a run still going or cut short
    leaves the others out; eval.json holds only its last invocation's methods)."""
    from flowforge.evaluation.methods import parse_methods
    from flowforge.evaluation.run import CellResult

    cells = []
    for m in parse_methods(",".join(methods)):
        for path in sorted((eval_dir / "cells" / m.slug).glob("*.json")):
            d = json.loads(path.read_text())
            cells.append(CellResult(**{k: v for k, v in d.items()
                                       if k not in ("exec_calls_per_instance", "exec_tokens_per_instance")}))
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=("pick-fixed", "table"))
    ap.add_argument("--curriculum", type=Path, default=ROOT / "results" / "curriculum.json")
    ap.add_argument("--out", type=Path, default=Path("runs/transfer/best_fixed.py"), help="pick-fixed: the workflow file")
    ap.add_argument("--eval", type=Path, help="table: the eval dir")
    ap.add_argument("--methods", default="io,cot,search,generator", help="table: rows, in order, as eval's --methods")
    ap.add_argument("--label", action="append", default=[], metavar="METHOD=LABEL", help="table: a row's label")
    ap.add_argument("--name", default="13-transfer")
    ap.add_argument("--title", default="Transfer to held-out families")
    ap.add_argument("--command", default="flowforge eval --suite curriculum-held-out --limit 50 --out runs/eval-transfer")
    ap.add_argument("--setup", default="2 CPU cores, no GPU; executor: the embedded SmolLM2-135M-Instruct (ct2 int8)")
    ap.add_argument("--notes", nargs="*", default=[])
    ap.add_argument("--order", type=int, default=13)
    args = ap.parse_args()
    curriculum = json.loads(args.curriculum.read_text())
    if args.step == "pick-fixed":
        print(f"wrote {args.out} ({pick_fixed(curriculum, args.out)})")
        return
    cells = finished_cells(args.eval, args.methods.split(",")) if args.eval else []
    if not cells:
        sys.exit(f"--eval {args.eval}: no finished cells of {args.methods} (run `flowforge eval --out DIR` first)")
    from flowforge.evaluation.tables import wide_rows

    columns, rows = wide_rows(cells)
    labels = dict(x.split("=", 1) for x in args.label)
    rows = [[labels.get(r[0], r[0]), *(c if len(c) <= 60 else c[:57] + "…" for c in r[1:])] for r in rows]
    table = {"order": args.order, "title": args.title, "command": args.command, "setup": args.setup,
             "columns": columns, "rows": rows + [oracle_row(columns, curriculum)], "notes": args.notes}
    path = ROOT / "results" / "tables" / f"{args.name}.json"
    path.write_text(json.dumps(table, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
