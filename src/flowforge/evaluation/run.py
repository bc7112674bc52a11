"""`flowforge eval`: methods x tasks on TEST splits, with the cost of obtaining each workflow
and of running it.

    flowforge eval --suite held-out --methods io,cot,generator --limit 5 --out runs/eval-heldout
    flowforge eval --suite all --methods io,cot,cot_sc,self_refine,search,generator_bo4 \
        --executor openai:gpt-4o-mini@https://api.openai.com/v1

Out dir layout: `cells/<method>/<task>.json` (one cached cell each; a rerun skips finished cells
whose config matches), `runs/<method>/<task>/` (the run dir of each cell: workflow.py,
results.jsonl, traces.jsonl, summary.json), `search/<method>/<task>/` (search histories), and the
tables `eval.json`, `eval.md`, `eval.csv`.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from flowforge.evaluation.methods import Method, obtain
from flowforge.evaluation.suites import EVAL_SPLIT, Cell
from flowforge.types import Usage

if TYPE_CHECKING:
    from flowforge.llm.base import LLM


@dataclass
class CellResult:
    """One (method, task) cell of the table."""

    method: str
    task: str
    operators: str  # the suite's operator set for this cell (the table column)
    status: str  # "ok" | "invalid" (workflow invalid, scored 0) | "failed"
    reason: str = ""
    score: float | None = None
    stderr: float | None = None  # of `score`, over the cell's instances
    n: int = 0
    errors: int = 0
    obtain_usage: dict[str, Any] = field(default_factory=dict)
    exec_usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    label: str = ""
    workflow: str = ""  # path relative to the out dir
    ran_operators: str = ""  # the set the workflow actually ran with (a fixed baseline may fall back)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def exec_calls_per_instance(self) -> float | None:
        return self.exec_usage.get("calls", 0) / self.n if self.n else None

    @property
    def exec_tokens_per_instance(self) -> float | None:
        u = self.exec_usage
        return (u.get("prompt_tokens", 0) + u.get("completion_tokens", 0)) / self.n if self.n else None

    def cell_text(self) -> str:
        if self.status == "failed":
            return f"failed: {self.reason}"
        text = f"{self.score:.3f}" + (f" ± {self.stderr:.3f}" if self.stderr is not None else "")
        return text + " (invalid workflow)" if self.status == "invalid" else text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exec_calls_per_instance"] = self.exec_calls_per_instance
        d["exec_tokens_per_instance"] = self.exec_tokens_per_instance
        return d


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", text)


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg if len(msg) <= 200 else msg[:200] + "..."


async def run_cell(method: Method, cell: Cell, *, executor: "LLM", llms: dict[str, "LLM"], out_dir: Path,
                   limit: int | None, search_rounds: int, search_limit: int, select_limit: int,
                   config: dict[str, Any]) -> CellResult:
    """Obtain `method`'s workflow for the cell's task and run it on the test split. Never raises
    for a per-cell problem: the cell comes back `failed` with a one-line reason."""
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task
    from flowforge.workflow.runtime import run_workflow_on_instances

    res = CellResult(method.name, cell.task, cell.operators, "failed", config=config)
    run_dir = out_dir / "runs" / method.slug / _slug(cell.key)
    t0 = time.monotonic()
    try:
        task = get_task(cell.task)
        res.task = task.name  # a spec path shows as its task's name
        opset = load_operator_set(cell.operators)
        got = await obtain(method, task, opset, executor=executor, llms=llms,
                           out_dir=out_dir / "search" / method.slug / _slug(cell.key), search_rounds=search_rounds,
                           search_limit=search_limit, select_limit=select_limit)
        res.obtain_usage, res.label, res.ran_operators = got.usage.to_dict(), got.label, got.operators
        _drop_stale_run(run_dir, got.source)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "obtained.py").write_text(f"# {method.name} for {cell.task}: {got.label}\n" + got.source)
        res.workflow = str((run_dir / "obtained.py").relative_to(out_dir))
        if not got.valid:
            res.status, res.score, res.reason = "invalid", 0.0, got.error or "invalid workflow"
            return res
        if EVAL_SPLIT not in task.splits:
            raise ValueError(f"task {task.name} has no {EVAL_SPLIT} split")
        instances = task.load(EVAL_SPLIT, limit=limit)
        run_opset = opset if got.operators == opset.name else load_operator_set(got.operators)
        summary = await run_workflow_on_instances(got.source, task, instances, executor=executor,
                                                  opset=run_opset, out_dir=run_dir, meta={"split": EVAL_SPLIT})
        res.status, res.score, res.n, res.errors = "ok", summary.score, summary.n, summary.errors
        res.stderr = summary.stderr
        res.exec_usage = summary.usage.to_dict()
    except Exception as e:  # a per-cell failure fills its cell; the rest of the table still runs
        res.status, res.reason = "failed", f"{type(e).__name__}: {_one_line(e)}"
    finally:
        res.seconds = time.monotonic() - t0
    return res


def _drop_stale_run(run_dir: Path, source: str) -> None:
    """A run dir left by a different workflow (e.g. search resumed to more rounds) is removed,
    so the cell reruns instead of mixing two workflows' results."""
    from flowforge.workflow.rundir import workflow_sha

    meta = run_dir / "run.json"
    if meta.exists() and json.loads(meta.read_text()).get("workflow_sha") != workflow_sha(source):
        shutil.rmtree(run_dir)


def cell_path(out_dir: Path, method: Method, cell: Cell) -> Path:
    return out_dir / "cells" / method.slug / f"{_slug(cell.key)}.json"


def load_cached(path: Path, config: dict[str, Any]) -> CellResult | None:
    """A finished cell from an earlier run with the same config (failed cells are retried)."""
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text())
        d.pop("exec_calls_per_instance", None)
        d.pop("exec_tokens_per_instance", None)
        cached = CellResult(**d)
    except (json.JSONDecodeError, TypeError):
        return None
    return cached if cached.config == config and cached.status != "failed" else None


async def run_eval(methods: list[Method], cells: list[Cell], *, executor_spec: str, out_dir: Path,
                   limit: int | None = None, search_rounds: int = 3, search_limit: int = 8,
                   select_limit: int = 8, load: Callable[[str], "LLM"] | None = None,
                   progress: Callable[[CellResult, bool], None] | None = None) -> list[CellResult]:
    """All cells, resuming from `out_dir`. `load` maps a model spec to an LLM (default load_llm);
    every spec is loaded before any cell runs, so a bad spec fails fast as a UserError."""
    if load is None:
        from flowforge.llm import load_llm as load
    out_dir.mkdir(parents=True, exist_ok=True)
    executor = load(executor_spec)
    llms = {m.spec: load(m.spec) for m in methods if m.spec}
    results = []
    for method in methods:
        for cell in cells:
            config = {"executor": executor_spec, "limit": limit, "split": EVAL_SPLIT, "spec": method.spec,
                      "samples": method.samples}
            if method.kind == "search":
                config |= {"search_rounds": search_rounds, "search_limit": search_limit}
            if method.samples > 1:
                config["select_limit"] = select_limit
            path = cell_path(out_dir, method, cell)
            cached = load_cached(path, config)
            res = cached or await run_cell(method, cell, executor=executor, llms=llms, out_dir=out_dir,
                                           limit=limit, search_rounds=search_rounds,
                                           search_limit=search_limit, select_limit=select_limit,
                                           config=config)
            if cached is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(res.to_dict(), indent=2))
            results.append(res)
            if progress:
                progress(res, cached is not None)
    return results


def method_summary(results: list[CellResult]) -> list[dict[str, Any]]:
    """Per method: mean score over cells that ran (failed cells excluded and counted), total
    workflow-obtaining cost, and execution cost per instance."""
    rows = []
    for method in dict.fromkeys(r.method for r in results):
        cells = [r for r in results if r.method == method]
        done = [r for r in cells if r.status != "failed"]
        obtain, exe = Usage(), Usage()
        for r in cells:
            obtain.add(Usage(**r.obtain_usage))
            if r.exec_usage:
                exe.add(Usage(**r.exec_usage))
        n = sum(r.n for r in done)
        rows.append({
            "method": method,
            "mean_score": sum(r.score for r in done) / len(done) if done else math.nan,
            "mean_stderr": _mean_stderr(done),
            "cells": len(cells), "failed": len(cells) - len(done),
            "obtain_calls": obtain.calls, "obtain_tokens": obtain.tokens,
            "exec_calls_per_instance": exe.calls / n if n else math.nan,
            "exec_tokens_per_instance": exe.tokens / n if n else math.nan,
        })
    return rows


def _mean_stderr(cells: list[CellResult]) -> float | None:
    """Standard error of the mean of independent cell scores: sqrt(sum se_i^2) / k. None when a
    cell has none (an invalid workflow's 0, or under 2 instances)."""
    ses = [r.stderr for r in cells]
    if not ses or any(se is None for se in ses):
        return None
    return math.sqrt(sum(se * se for se in ses)) / len(ses)
