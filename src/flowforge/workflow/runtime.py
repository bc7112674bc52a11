"""Run one workflow on many task instances: validate, execute `solve` for each instance in the
sandbox with that instance's operators bound, score, and record results and traces.

Per instance: the workflow runs in a sandboxed child (`flowforge.sandbox.run_workflow`); each
`ops.<name>(...)` there comes back here as `call_op`, which runs the operator with the instance's
context, traces it and enforces an operator-call budget. A crash, timeout or uncaught operator
error scores 0 and is recorded; a backend/sandbox/scorer failure is infrastructure and leaves
the instance unscored (NaN), never a silent 0. Instances run concurrently under a semaphore.
"""
from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from flowforge.errors import BackendConfigError, BackendError, SandboxError
from flowforge.llm.base import LLM
from flowforge.operators import OpContext, OperatorError, OperatorSet
from flowforge.operators.impls import impl_function
from flowforge.types import ExecResult, Instance, InstanceResult, OperatorCall, Usage
from flowforge.workflow.rundir import RunDir, workflow_sha
from flowforge.workflow.validate import validate_workflow

REPEAT_TEMPERATURE = 0.8  # identical repeated operator calls sample, so ensembles see diversity


@dataclass
class RunSummary:
    score: float  # mean over scored instances; NaN if none
    n: int
    errors: int
    usage: Usage
    seconds: float  # wall time of this invocation
    results: list[InstanceResult] = field(default_factory=list)
    resumed: int = 0  # instances taken from an earlier run in the same directory
    out_dir: Path | None = None

    @property
    def scored(self) -> int:
        return sum(not math.isnan(r.score) for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "n": self.n, "scored": self.scored, "errors": self.errors,
                "resumed": self.resumed, "usage": self.usage.to_dict(), "seconds": round(self.seconds, 3)}


def _summarise(results: list[InstanceResult], seconds: float, resumed: int, out_dir) -> RunSummary:
    usage = Usage()
    for r in results:
        usage.add(r.usage)
    scores = [r.score for r in results if not math.isnan(r.score)]
    return RunSummary(score=sum(scores) / len(scores) if scores else float("nan"), n=len(results),
                      errors=sum(r.error is not None for r in results), usage=usage, seconds=seconds,
                      results=results, resumed=resumed, out_dir=out_dir)


class _InstanceRun:
    """The operators bound to one instance, plus its trace."""

    def __init__(self, inst: Instance, executor: LLM, opset: OperatorSet, max_tokens, max_op_calls):
        self.inst, self.executor, self.opset = inst, executor, opset
        self.max_tokens, self.max_op_calls = max_tokens, max_op_calls
        self.calls: list[OperatorCall] = []
        self.infra: list[str] = []  # infrastructure failures seen by this instance
        self.fatal: BackendConfigError | None = None  # the executor cannot work at all: abort the run
        self._repeats: Counter = Counter()

    async def call_op(self, name: str, kwargs: dict[str, Any]) -> Any:
        spec = self.opset.get(name)
        if spec is None:
            raise OperatorError(f"unknown operator {name!r}")
        params = {p.name for p in spec.params}
        bad = [k for k in kwargs if k not in params]
        missing = [p.name for p in spec.params if p.required and p.name not in kwargs]
        if bad or missing:
            raise OperatorError(f"{name}: bad arguments {bad or ''}{' missing ' + str(missing) if missing else ''}; "
                                f"signature {spec.signature}")
        if len(self.calls) >= self.max_op_calls:
            raise OperatorError(f"operator call budget of {self.max_op_calls} exhausted")
        key = name + json.dumps(kwargs, sort_keys=True, default=str)
        k = self._repeats[key]
        self._repeats[key] += 1
        ctx = OpContext(llm=self.executor, problem=self.inst.problem, context=self.inst.context,
                        temperature=0.0 if k == 0 else REPEAT_TEMPERATURE, seed=k, max_tokens=self.max_tokens)
        call = OperatorCall(operator=name, inputs=kwargs, output=None, usage=ctx.usage, seconds=0.0)
        self.calls.append(call)
        t0 = time.perf_counter()
        try:
            call.output = await impl_function(spec.impl)(ctx, **kwargs)
            return call.output
        except OperatorError as e:
            call.error = f"OperatorError: {e}"
            raise
        except BackendConfigError as e:  # unreachable endpoint, bad auth, wrong model: no instance can run
            call.error = f"{type(e).__name__}: {e}"
            self.fatal = self.fatal or e
            raise OperatorError(f"{name}: {call.error}") from e
        except (BackendError, SandboxError) as e:
            call.error = f"{type(e).__name__}: {e}"
            self.infra.append(call.error)
            raise OperatorError(f"{name}: {call.error}") from e
        except Exception as e:  # an operator bug: recorded, surfaced to the workflow
            call.error = f"{type(e).__name__}: {e}"
            raise OperatorError(f"{name}: {call.error}") from e
        finally:
            call.seconds = time.perf_counter() - t0


async def _run_one(program: str, task, inst: Instance, run: _InstanceRun, timeout_s: float) -> InstanceResult:
    from flowforge.sandbox import Limits, run_workflow

    t0 = time.perf_counter()
    try:
        res = await asyncio.wait_for(
            run_workflow(program, inst.problem, run.call_op, limits=Limits(wall_s=timeout_s)), timeout_s + 5)
    except asyncio.TimeoutError:
        res = ExecResult(success=False, error="Timeout", message=f"workflow exceeded {timeout_s:g}s", timeout=True)
    except SandboxError as e:
        run.infra.append(f"SandboxError: {e}")
        res = ExecResult(success=False, error="SandboxError", message=str(e))
    if run.fatal is not None:  # raised out of run_workflow_on_instances: nothing recorded, the CLI exits 2
        raise run.fatal
    answer = "" if not res.success or res.result is None else str(res.result)
    score, error, explanation = 0.0, None, ""
    if run.infra:
        score, error = float("nan"), run.infra[0]
    elif not res.success:
        error = f"{res.error or 'Error'}: {res.message}".strip().rstrip(":")
    else:
        try:
            verdict = await asyncio.to_thread(task.score, answer, inst)
            score, explanation = float(verdict.value), verdict.explanation
        except Exception as e:  # scorer infrastructure: unscored, never a silent 0
            score, error = float("nan"), f"ScorerError: {type(e).__name__}: {e}"
    usage = Usage()
    for c in run.calls:
        usage.add(c.usage)
    return InstanceResult(instance_id=inst.id, answer=answer, score=score, error=error, usage=usage,
                          seconds=round(time.perf_counter() - t0, 4), explanation=explanation)


async def run_workflow_on_instances(
    source: str,
    task,
    instances: list[Instance],
    *,
    executor: LLM,
    opset: OperatorSet,
    concurrency: int = 16,
    timeout_s: float = 300.0,
    out_dir: Path | None = None,
    max_tokens: int | None = None,
    max_op_calls: int = 100,
    meta: dict[str, Any] | None = None,
    on_result: Callable[[InstanceResult], None] | None = None,
) -> RunSummary:
    """Validate `source` (WorkflowError: nothing runs), then run it on `instances`.

    out_dir: the run directory (resumed if it exists). max_tokens caps every executor call.
    meta: extra fields pinned in run.json (e.g. split). on_result: called per finished instance.
    """
    validate_workflow(source, opset)
    t0 = time.perf_counter()
    instances = list({i.id: i for i in instances}.values())
    rundir = None
    if out_dir is not None:
        rundir = RunDir(out_dir, source=source, meta={
            "task": task.name, "executor": executor.name,
            "operators": opset.name, **(meta or {})})
    done = dict(rundir.finished) if rundir else {}
    todo = [i for i in instances if i.id not in done]
    resumed = len(instances) - len(todo)
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(inst: Instance) -> tuple[InstanceResult, list[OperatorCall]]:
        async with sem:
            run = _InstanceRun(inst, executor, opset, max_tokens, max_op_calls)
            return await _run_one(source, task, inst, run, timeout_s), run.calls

    jobs = [asyncio.ensure_future(one(i)) for i in todo]
    try:
        for fut in asyncio.as_completed(jobs):
            result, calls = await fut
            done[result.instance_id] = result
            if rundir:
                rundir.append(result, calls)
            if on_result:
                on_result(result)
    finally:
        for j in jobs:
            j.cancel()
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)
        results = [done[i.id] for i in instances if i.id in done]
        summary = _summarise(results, time.perf_counter() - t0, resumed, out_dir)
        if rundir:
            rundir.write_summary({**summary.to_dict(), "complete": len(results) == len(instances)})
            rundir.close()
    return summary


__all__ = ["RunSummary", "run_workflow_on_instances", "workflow_sha"]
