"""Eval tables: methods x tasks scores plus cost columns, as Markdown, CSV, JSON and rich."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from rich.table import Table

from flowforge.evaluation.run import CellResult, method_summary


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def wide_rows(results: list[CellResult]) -> tuple[list[str], list[list[str]]]:
    """Header + one row per method: cell texts per task, then mean and cost columns."""
    keys = list(dict.fromkeys(_key(r) for r in results))
    header = ["method", *keys, "mean", "obtain calls", "obtain tokens", "exec calls/inst", "exec tokens/inst"]
    by = {(r.method, _key(r)): r for r in results}
    rows = []
    for s in method_summary(results):
        cells = [by[(s["method"], k)].cell_text() if (s["method"], k) in by else "" for k in keys]
        mean = _num(s["mean_score"]) + (f" ± {s['mean_stderr']:.3f}" if s.get("mean_stderr") is not None else "")
        rows.append([s["method"], *cells, mean, str(s["obtain_calls"]), str(s["obtain_tokens"]),
                     _num(s["exec_calls_per_instance"], "{:.1f}"), _num(s["exec_tokens_per_instance"], "{:.0f}")])
    return header, rows


def _key(r: CellResult) -> str:
    """Column key: the task, plus the operator set it ran with when not default."""
    return r.task if r.operators == "default" else f"{r.task}@{r.operators}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(results: list[CellResult], title: str = "") -> str:
    header, rows = wide_rows(results)
    out = [f"## {title}\n"] if title else []
    out.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
    out.append("|" + "---|" * len(header))
    out += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    out.append("\nScores are means on TEST splits. obtain = LLM cost of getting the workflow "
               "(0 for fixed baselines; all rounds for search; generator samples + selection runs). "
               "exec = executor cost per test instance. `failed` cells are excluded from the mean.")
    return "\n".join(out) + "\n"


CSV_FIELDS = ["method", "task", "operators", "ran_operators", "status", "score", "n", "errors", "obtain_calls", "obtain_tokens",
              "exec_calls_per_instance", "exec_tokens_per_instance", "seconds", "label", "reason"]


def to_csv(results: list[CellResult]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in results:
        d = r.to_dict()
        ou = r.obtain_usage
        w.writerow({k: d.get(k) for k in CSV_FIELDS} | {
            "obtain_calls": ou.get("calls", 0),
            "obtain_tokens": ou.get("prompt_tokens", 0) + ou.get("completion_tokens", 0),
            "seconds": round(r.seconds, 2)})
    return buf.getvalue()


def to_json(results: list[CellResult], meta: dict[str, Any]) -> str:
    return json.dumps({"meta": meta, "methods": method_summary(results),
                       "cells": [r.to_dict() for r in results]}, indent=2, default=str)


def write_tables(results: list[CellResult], out_dir: Path, meta: dict[str, Any]) -> list[Path]:
    paths = [out_dir / "eval.json", out_dir / "eval.md", out_dir / "eval.csv"]
    paths[0].write_text(to_json(results, meta))
    paths[1].write_text(to_markdown(results, f"flowforge eval: {meta.get('suite') or meta.get('tasks') or ''}"))
    paths[2].write_text(to_csv(results))
    return paths


def rich_table(results: list[CellResult], title: str = "") -> Table:
    header, rows = wide_rows(results)
    table = Table(title=title, show_lines=False)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*[f"[red]{c}[/red]" if c.startswith("failed") else c for c in row])
    return table
