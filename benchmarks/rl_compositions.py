"""What a GRPO run's policy moved towards: its sampled workflows, read from `rewards.jsonl`.

    .venv/bin/python benchmarks/rl_compositions.py runs/rl-curriculum [--window 5]

For the first and the last `window` steps: the valid rate, the mean score, the share of groups
whose completions all scored the same (no spread, so no gradient), executor calls per
instance, the share of valid workflows that call no executor (they answer from tools alone), and
per task the most frequent composition (operators by implementation, in source order) with its
share and mean score. A composition that grows in share from the first window to the last is one
the policy moved towards. Over the whole run: valid rate and mean score by operator-set variant
kind (base, shuffled, subset, renamed, mixed).
"""
from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import typer


def _load(run: Path) -> list[dict]:
    path = run / "rewards.jsonl"
    if not path.exists():
        raise typer.BadParameter(f"{path}: no such file (is {run} a `flowforge train rl` run dir?)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def summarise(rows: list[dict]) -> dict:
    """Window figures: overall and, per task, the top composition of the valid completions."""
    valid = [r for r in rows if r["valid"]]
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in valid:
        by_task[r["variant"].split("#")[0]].append(r)
    tasks = {}
    for task, rs in sorted(by_task.items()):
        comp, n = Counter(r.get("composition", "?") or "(no operator)" for r in rs).most_common(1)[0]
        tasks[task] = {"n": len(rs), "top": comp, "share": n / len(rs),
                       "score": _mean([r["score"] or 0.0 for r in rs])}
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        groups[r["step"], r["variant"]].append(r["score"] or 0.0)
    return {"completions": len(rows), "valid": len(valid) / len(rows) if rows else float("nan"),
            "score": _mean([r["score"] or 0.0 for r in rows]),
            "no_spread": _mean([float(len(set(g)) == 1) for g in groups.values()]),
            "calls": _mean([r.get("calls", 0.0) for r in valid]),
            "no_executor": _mean([float(r.get("calls", 0.0) == 0) for r in valid]), "tasks": tasks}


def by_kind(rows: list[dict]) -> dict[str, dict]:
    """Valid rate and mean score per operator-set variant kind (the text after ':' in its id)."""
    kinds: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        kinds[r["variant"].rsplit(":", 1)[-1]].append(r)
    return {k: {"n": len(rs), "valid": _mean([float(bool(r["valid"])) for r in rs]),
                "score": _mean([r["score"] or 0.0 for r in rs])} for k, rs in sorted(kinds.items())}


def main(run: Path = typer.Argument(..., help="A `flowforge train rl` run dir."),
         window: int = typer.Option(5, help="Steps in the first and the last window.")) -> None:
    rows = _load(run)
    steps = sorted({r["step"] for r in rows})
    if not steps:
        raise typer.BadParameter(f"{run}/rewards.jsonl has no completions")
    first = [r for r in rows if r["step"] in steps[:window]]
    last = [r for r in rows if r["step"] in steps[-window:]]
    a, b = summarise(first), summarise(last)
    print(f"run {run}: steps {steps[0]}..{steps[-1]}, windows of {window} steps")
    print(f"{'':28} {'first':>10} {'last':>10}")
    for key, label in (("completions", "completions"), ("valid", "valid rate"), ("score", "mean score (reward)"),
                       ("no_spread", "groups with no spread"),
                       ("calls", "executor calls / instance"), ("no_executor", "share with no executor call")):
        print(f"{label:28} {a[key]:>10.3g} {b[key]:>10.3g}")
    print("\nper task: top composition (share, mean score), first window -> last window")
    for task in sorted(set(a["tasks"]) | set(b["tasks"])):
        cells = []
        for w in (a, b):
            t = w["tasks"].get(task)
            cells.append(f"{t['top']} ({t['share']:.0%}, {t['score']:.2f}, n={t['n']})" if t else "-")
        print(f"{task}: {cells[0]}  ->  {cells[1]}")
    print("\nby operator-set variant, whole run: valid rate, mean score (completions)")
    for kind, k in by_kind(rows).items():
        print(f"{kind:10} {k['valid']:.2f} {k['score']:.2f} ({k['n']})")


if __name__ == "__main__":
    try:
        typer.run(main)
    except KeyboardInterrupt:
        sys.exit(130)
