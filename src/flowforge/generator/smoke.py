"""Smoke run: before a generated workflow is handed over, run it on a few of the task's problems
with the real executor and sandbox, to catch what only shows when it runs (an operator error,
a TypeError the validator could not see).

Only inputs are used: each instance's reference is dropped before the run and no answer is
scored. `Task.smoke_split` says which split the problems come from.
A timeout (the workflow's, or the backend's) is not a crash: the run limit is short, and a slow
workflow still runs.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowforge.llm.base import LLM
    from flowforge.operators import OperatorSet
    from flowforge.tasks import Task

SMOKE_INSTANCES = 3
SMOKE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SmokeResult:
    split: str
    total: int
    clean: int  # ran to an answer without error
    timeouts: int
    crash: str | None  # the first crash ("<instance id>: <error>"); None: nothing crashed

    @property
    def passed(self) -> bool:
        return self.crash is None

    def __str__(self) -> str:
        slow = f", {self.timeouts} timed out" if self.timeouts else ""
        return f"{self.clean} of {self.total} {self.split} problems ran without error{slow}"


async def smoke_run(source: str, task: "Task", opset: "OperatorSet", executor: "LLM", *,
                    n: int = SMOKE_INSTANCES, timeout_s: float = SMOKE_TIMEOUT_S) -> SmokeResult:
    """Run `source` (already valid) on up to n problems, unscored; report what crashed."""
    from flowforge.workflow.runtime import BACKEND_TIMEOUT, run_workflow_on_instances

    split = task.smoke_split
    problems = [replace(i, reference=None) for i in task.load(split, limit=n)]
    summary = await run_workflow_on_instances(source, task, problems, executor=executor, opset=opset,
                                              timeout_s=timeout_s, scored=False)
    timeouts = [r for r in summary.results if r.error and r.error.startswith(("Timeout", BACKEND_TIMEOUT))]
    crashes = [r for r in summary.results if r.error and r not in timeouts]
    return SmokeResult(split, summary.n, sum(r.error is None for r in summary.results), len(timeouts),
                       f"{crashes[0].instance_id}: {crashes[0].error}" if crashes else None)
