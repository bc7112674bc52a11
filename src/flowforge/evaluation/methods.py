"""Eval methods: how each one obtains a workflow for a task, and what obtaining it cost.

    io, cot, cot_sc, self_refine, ... fixed reference workflows (flowforge/workflow/reference, cost 0)
    PATH.py                        a fixed workflow from a file (cost 0), e.g. your own
    search[:OPTIMIZER]             AFlow-style search on the task's tuning split (Task.tuning_split)
    generator[:SPEC]               one greedy generation (one generator call)
    generator_bo<N>[:SPEC]         best-of-N samples, selected on the same tuning split (N samples + runs)

A method with no SPEC uses `embedded`; `search` with no SPEC uses the executor as optimizer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from flowforge.errors import UserError
from flowforge.generator import default_generator_spec
from flowforge.types import Usage
from flowforge.workflow.reference import reference_names, resolve_workflow

if TYPE_CHECKING:
    from flowforge.llm.base import LLM
    from flowforge.operators import OperatorSet
    from flowforge.tasks import Task

FIXED = tuple(reference_names())  # io, cot, cot_sc, self_refine, programmer_sc, code_test, ...
_BO = re.compile(r"generator_bo(\d+)$")


@dataclass(frozen=True)
class Method:
    """A parsed `--methods` entry."""

    kind: str  # "fixed" | "search" | "generator"
    name: str  # the entry as the user wrote it (table row label)
    spec: str | None = None  # model spec of the generator / optimizer
    samples: int = 1

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)


@dataclass
class Obtained:
    """A workflow plus how it was obtained and what obtaining it cost."""

    source: str
    usage: Usage = field(default_factory=Usage)
    label: str = ""
    valid: bool = True
    error: str | None = None
    operators: str = "default"


def parse_methods(text: str) -> list[Method]:
    """`io,cot,generator:hf:ckpt` -> Methods. Unknown names raise UserError (one line)."""
    methods = []
    for raw in (m.strip() for m in text.split(",")):
        if not raw:
            continue
        head, _, spec = raw.partition(":")
        spec = spec or None
        if head in FIXED and spec is None:
            methods.append(Method("fixed", raw))
        elif raw.endswith(".py"):
            resolve_workflow(raw)  # UserError when the file does not exist
            methods.append(Method("fixed", raw))
        elif head == "search":
            methods.append(Method("search", raw, spec))
        elif head == "generator":
            methods.append(Method("generator", raw, spec or default_generator_spec()))
        elif m := _BO.match(head):
            n = int(m.group(1))
            if n < 2:
                raise UserError(f"method {raw!r}: best-of-N needs N >= 2")
            methods.append(Method("generator", raw, spec or default_generator_spec(), samples=n))
        else:
            raise UserError(f"unknown method {raw!r}; choose from {', '.join(FIXED)}, search[:SPEC], "
                            "generator[:SPEC], generator_bo<N>[:SPEC], or a workflow file PATH.py")
    if not methods:
        raise UserError("--methods is empty")
    if len({m.name for m in methods}) != len(methods):
        raise UserError("--methods lists a method twice")
    return methods


def fixed_workflow(name: str, opset: "OperatorSet") -> Obtained:
    """A reference workflow validated against `opset`; one that needs operators the set lacks
    falls back to the default set, and the label says so."""
    from flowforge.workflow.reference import load_reference

    ref = load_reference(name, opset)
    return Obtained(ref.source, label=ref.label, operators=ref.operators)


async def obtain(method: Method, task: "Task", opset: "OperatorSet", *, executor: "LLM",
                 llms: dict[str, "LLM"], out_dir: Path, search_rounds: int, search_limit: int,
                 select_limit: int) -> Obtained:
    """Get `method`'s workflow for (task, opset); `llms` maps model specs to loaded backends;
    `out_dir` is where a search keeps its history."""
    if method.kind == "fixed":
        return fixed_workflow(method.name, opset)
    if method.kind == "search":
        from flowforge.search.aflow import SearchConfig, run_search

        optimizer = llms[method.spec] if method.spec else executor
        cfg = SearchConfig(rounds=search_rounds, val_limit=search_limit, split=task.tuning_split)
        result = await run_search(task, opset, optimizer=optimizer, executor=executor,
                                  out_dir=out_dir, config=cfg)
        return Obtained(result.best_source, result.usage,
                        label=f"AFlow-style search, {result.rounds} rounds on {cfg.split} "
                              f"(best val {result.best_score:.3f})", operators=opset.name)
    from flowforge.generator.generate import generate_workflow

    if method.samples > 1 and task.tuning_split is None:
        raise UserError(f"{method.name} selects on a validate or train split; task {task.name} has only "
                        f"{', '.join(task.splits)} (selection never uses test)")
    gen = await generate_workflow(task, opset, llms[method.spec], samples=method.samples,
                                  select_on=task.tuning_split if method.samples > 1 else None,
                                  select_limit=select_limit, executor=executor)
    assert gen.selected is not None
    usage = Usage().add(gen.usage).add(gen.selection_usage)
    return Obtained(gen.selected.source, usage, label=f"{method.spec}; {gen.selection}",
                    valid=gen.selected.valid, error=gen.selected.error, operators=opset.name)
