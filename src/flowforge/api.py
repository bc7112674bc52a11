"""flowforge's Python API: the main verbs of the CLI as functions over the same objects.

    import flowforge as ff

    task = ff.load_task("examples/unit_convert/spec.yaml")        # or a built-in name: "gsm8k"
    ops = ff.load_operators("examples/unit_convert/operators.yaml")  # or "default", "qa", ...
    gen = ff.generate(task, ops)                                    # the shipped generator, greedy
    print(gen.selected.source)
    summary = ff.run(gen.selected.source, task, ops, limit=5, out_dir="runs/uc")
    print(summary.score, summary.usage.calls)
    cells = ff.evaluate(["io", "cot", "generator"], tasks=["gsm8k", task.source], limit=3)
    ff.train_sft(ff.SFTRunConfig(data="runs/synth/sft.jsonl", out_dir="runs/sft", max_steps=10))

`run` takes workflow source text, a workflow file or a reference workflow name ("io", "cot", ...).
Model arguments take a model spec string ("embedded", "hf:PATH", "openai:MODEL@URL") or a loaded
LLM. These functions block; inside a running event loop, await the coroutines they wrap
(`generate_workflow`, `run_workflow_on_instances`, `run_eval`, `run_search`) instead.
Errors in the input raise `flowforge.errors.UserError` (the CLI prints it as one line, exit 2).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowforge.operators import OperatorSet, load_operator_set
from flowforge.tasks import Task, get_task

if TYPE_CHECKING:
    from flowforge.evaluation.run import CellResult
    from flowforge.generator.generate import Generation
    from flowforge.llm.base import LLM
    from flowforge.search.aflow import SearchResult
    from flowforge.training.config import RLRunConfig, SFTRunConfig, SynthConfig
    from flowforge.workflow.runtime import RunSummary

__all__ = ["evaluate", "generate", "load_llm",
           "load_operators", "load_task", "reference_workflow", "run", "search_workflow", "train_rl",
           "train_sft", "train_synth"]


def load_task(name_or_path: str | Path) -> Task:
    """A built-in task (`flowforge tasks`), a `synth/<family>`, or a task spec YAML path."""
    return get_task(str(name_or_path))


def load_operators(name_or_path: str | Path = "default") -> OperatorSet:
    """A bundled operator set by name, or an operator-set YAML (its `impl: module:function`
    operators are imported from beside the file)."""
    return load_operator_set(name_or_path)


def load_llm(spec: str, cache: bool = True) -> "LLM":
    """A backend from a model spec; see the README's model specs."""
    from flowforge.llm import load_llm as _load

    return _load(spec, cache=cache)


def _llm(model: "str | LLM") -> "LLM":
    return load_llm(model) if isinstance(model, str) else model


def _task(task: Task | str | Path) -> Task:
    return task if isinstance(task, Task) else load_task(task)


def _opset(ops: OperatorSet | str | Path) -> OperatorSet:
    return ops if isinstance(ops, OperatorSet) else load_operators(ops)


def reference_workflow(name: str) -> str:
    """The source of a reference workflow: io, cot, cot_sc, self_refine, programmer_sc, ..."""
    from flowforge.workflow.reference import reference_path

    return reference_path(name).read_text(encoding="utf-8")


def generate(task: Task | str, operators: OperatorSet | str = "default", *, generator: "str | LLM | None" = None,
             samples: int = 1, select_on: str | None = None, executor: "str | LLM" = "embedded",
             **options: Any) -> "Generation":
    """Write a workflow for `task` with the generator (default: the shipped adapter). The result's
    `.selected.source` is the workflow, `.selected.valid` whether it validated. `select_on` (with
    samples > 1) picks the best sample by score on that split; the executor also smoke-runs each
    candidate (`smoke=False` skips it). Other options go to `generate_workflow`."""
    from flowforge.generator import default_generator_spec
    from flowforge.generator.generate import generate_workflow

    exe = _llm(executor) if select_on or options.get("smoke", True) else None  # the smoke run needs one
    return asyncio.run(generate_workflow(_task(task), _opset(operators), _llm(generator or default_generator_spec()),
                                         samples=samples, select_on=select_on, executor=exe, **options))


def _workflow_source(workflow: str | Path) -> str:
    if isinstance(workflow, str) and "def solve" in workflow:
        return workflow
    from flowforge.workflow.reference import resolve_workflow

    return resolve_workflow(workflow).read_text(encoding="utf-8")


def run(workflow: str | Path, task: Task | str, operators: OperatorSet | str = "default", *,
        split: str = "test", limit: int | None = None, executor: "str | LLM" = "embedded",
        out_dir: str | Path | None = None, **options: Any) -> "RunSummary":
    """Run a workflow (source, file or reference name) on a split of `task`; with `out_dir`, a
    resumable run dir like `flowforge run --out`. Options go to `run_workflow_on_instances`
    (concurrency, timeout_s, max_tokens, on_result)."""
    from flowforge.errors import UserError
    from flowforge.workflow.runtime import run_workflow_on_instances
    from flowforge.workflow.validate import validate_workflow

    source, the_task, opset = _workflow_source(workflow), _task(task), _opset(operators)
    validate_workflow(source, opset)
    instances = the_task.load(split, limit=limit)
    if not instances:
        raise UserError(f"task {the_task.name} split {split} has no instances to run")
    return asyncio.run(run_workflow_on_instances(
        source, the_task, instances, executor=_llm(executor), opset=opset,
        out_dir=Path(out_dir) if out_dir else None, meta={"split": split}, **options))


def evaluate(methods: list[str] | str, *, tasks: list[str] | None = None, suite: str | None = None,
             executor: str = "embedded", limit: int | None = None, operators: str | None = None,
             out_dir: str | Path = "runs/eval", **options: Any) -> list["CellResult"]:
    """Methods x tasks on test splits, as `flowforge eval`: `methods` like "io,cot,generator" or a
    list; `tasks` built-in names and/or spec paths. Writes the tables under `out_dir` and
    returns the cells. Options: search_rounds, search_limit, select_limit, progress."""
    from flowforge.evaluation.methods import parse_methods
    from flowforge.evaluation.run import run_eval
    from flowforge.evaluation.suites import suite_cells
    from flowforge.evaluation.tables import write_tables

    text = methods if isinstance(methods, str) else ",".join(methods)
    meths = parse_methods(text)
    cells = suite_cells(suite, [str(t) for t in tasks] if tasks else None, operators)
    out = Path(out_dir)
    results = asyncio.run(run_eval(meths, cells, executor_spec=executor, out_dir=out, limit=limit, **options))
    write_tables(results, out, {"suite": suite, "tasks": ",".join(map(str, tasks or [])) or None,
                                "methods": text, "executor": executor, "limit": limit})
    return results


def search_workflow(task: Task | str, operators: OperatorSet | str = "default", *, rounds: int = 5,
           optimizer: "str | LLM" = "embedded", executor: "str | LLM" = "embedded",
           out_dir: str | Path | None = None, **config: Any) -> "SearchResult":
    """AFlow-style search baseline on the task's tuning split, as `flowforge search`. Config
    fields of `SearchConfig` (val_limit, seed_workflow, ...) may be passed as keywords."""
    import re

    from flowforge.search.aflow import SearchConfig, run_search

    the_task = _task(task)
    out = Path(out_dir) if out_dir else Path("runs/search") / re.sub(r"[^A-Za-z0-9_.-]+", "_", the_task.name)
    exe = _llm(executor)
    opt = exe if optimizer == executor else _llm(optimizer)
    return asyncio.run(run_search(the_task, _opset(operators), optimizer=opt, executor=exe, out_dir=out,
                                  config=SearchConfig(rounds=rounds, **config)))


def train_synth(config: "SynthConfig") -> dict[str, Any]:
    """Stage 1 data (`flowforge train synth`); returns its summary."""
    from flowforge.training.synth import run_synth

    return run_synth(config)


def train_sft(config: "SFTRunConfig") -> dict[str, Any]:
    """Stage 1 SFT (`flowforge train sft`); returns the run summary."""
    from flowforge.training.sft import train_sft as _train

    return _train(config)


def train_rl(config: "RLRunConfig") -> dict[str, Any]:
    """Stage 2 GRPO (`flowforge train rl`); returns the run summary."""
    from flowforge.training.rl import train_rl as _train

    return _train(config)
