"""Run one workflow on many task instances: validate, execute `solve` for each instance in the
sandbox with that instance's operators bound, score, and record results and traces.

Per instance: the workflow runs in a sandboxed child (`flowforge.sandbox.run_workflow`); each
`ops.<name>(...)` there comes back here as `call_op`, which runs the operator with the instance's
context, traces it and enforces an operator-call budget. A crash, timeout or uncaught operator
error scores 0 and is recorded; a backend/sandbox/scorer failure is infrastructure and leaves
the instance unscored (NaN), never a silent 0. Instances run concurrently under a semaphore, and
one instance failing in any way never stops the others.

Time limits blame the right party. `timeout_s` bounds the instance's own work: workflow compute,
host-side operators and scoring. Time spent waiting on the executor backend (queued behind other
instances on a shared local model, or generating) does not count against it; it has its own,
larger bound `backend_timeout_s`. An instance stopped by that bound is unscored
(`BackendTimeout`, NaN), reported, and retried when the run directory is resumed.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
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
SCORER_MIN_S = 5.0  # the scorer always gets at least this, even when the workflow used its whole budget
BACKEND_TIMEOUT = "BackendTimeout"  # error prefix of instances stopped only by backend waiting
_log = logging.getLogger("flowforge.runtime")


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
    backend_timeouts: int = 0  # unscored because the backend did not answer in time; retried on resume

    @property
    def scored(self) -> int:
        return sum(not math.isnan(r.score) for r in self.results)

    @property
    def stderr(self) -> float | None:
        """Standard error of `score` over the scored instances (None below 2)."""
        return standard_error([r.score for r in self.results if not math.isnan(r.score)])

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "stderr": self.stderr, "n": self.n, "scored": self.scored, "errors": self.errors,
                "resumed": self.resumed, "backend_timeouts": self.backend_timeouts,
                "usage": self.usage.to_dict(), "seconds": round(self.seconds, 3)}


def standard_error(scores: list[float]) -> float | None:
    """The standard error of the mean of `scores` (sample variance); None for fewer than 2."""
    n = len(scores)
    if n < 2:
        return None
    m = sum(scores) / n
    return math.sqrt(sum((x - m) ** 2 for x in scores) / (n - 1) / n)


def _summarise(results: list[InstanceResult], seconds: float, resumed: int, out_dir) -> RunSummary:
    usage = Usage()
    for r in results:
        usage.add(r.usage)
    scores = [r.score for r in results if not math.isnan(r.score)]
    return RunSummary(score=sum(scores) / len(scores) if scores else float("nan"), n=len(results),
                      errors=sum(r.error is not None for r in results), usage=usage, seconds=seconds,
                      results=results, resumed=resumed, out_dir=out_dir,
                      backend_timeouts=sum((r.error or "").startswith(BACKEND_TIMEOUT) for r in results))


class _BackendClock:
    """The executor, timed: seconds during which at least one of this instance's calls was
    waiting on the backend (queued or generating). Everything else is delegated."""

    def __init__(self, llm: LLM):
        self._llm = llm
        self._inflight = 0
        self._since = 0.0
        self._total = 0.0

    def __getattr__(self, name):
        return getattr(self._llm, name)

    def waited(self) -> float:
        return self._total + (time.monotonic() - self._since if self._inflight else 0.0)

    async def complete(self, *args, **kwargs):
        if self._inflight == 0:
            self._since = time.monotonic()
        self._inflight += 1
        try:
            return await self._llm.complete(*args, **kwargs)
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._total += time.monotonic() - self._since


class _InstanceRun:
    """The operators bound to one instance, plus its trace."""

    def __init__(self, inst: Instance, executor: LLM, opset: OperatorSet, max_tokens, max_op_calls):
        self.clock = _BackendClock(executor)
        self.inst, self.executor, self.opset = inst, self.clock, opset
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


async def _run_one(program: str, task, inst: Instance, run: _InstanceRun, timeout_s: float,
                   backend_timeout_s: float, scored: bool = True) -> InstanceResult:
    """One instance, within timeout_s of its own work plus at most backend_timeout_s of waiting on
    the backend. Never raises, except the run-fatal BackendConfigError."""
    t0 = time.monotonic()
    answer, score, error, explanation = "", 0.0, None, ""
    try:
        res = await _execute(program, inst, run, timeout_s, backend_timeout_s)
        if run.fatal is not None:  # raised out of run_workflow_on_instances: nothing recorded, the CLI exits 2
            raise run.fatal
        answer = "" if not res.success or res.result is None else str(res.result)
        if res.error == BACKEND_TIMEOUT:
            score, error = float("nan"), f"{BACKEND_TIMEOUT}: {res.message}"
        elif run.infra:
            score, error = float("nan"), run.infra[0]
        elif not res.success:
            error = f"{res.error or 'Error'}: {res.message}".strip().rstrip(":")
        elif not scored:
            score = float("nan")
        else:
            own = (time.monotonic() - t0) - run.clock.waited()
            score, error, explanation = await _score(task, answer, inst, max(SCORER_MIN_S, timeout_s - own))
    except BackendConfigError:
        raise
    except Exception as e:  # a bug or an unforeseen failure: this instance is unscored, the run goes on
        _log.exception("instance %s failed inside the runtime", inst.id)
        score, error = float("nan"), f"InternalError: {type(e).__name__}: {str(e)[:500]}"
    usage = Usage()
    for c in run.calls:
        usage.add(c.usage)
    return InstanceResult(instance_id=inst.id, answer=answer, score=score, error=error, usage=usage,
                          seconds=round(time.monotonic() - t0, 4), explanation=explanation)


async def _execute(program: str, inst: Instance, run: _InstanceRun, timeout_s: float,
                   backend_timeout_s: float) -> ExecResult:
    """The workflow in the sandbox; its wall clock stops while the backend is being waited on."""
    from flowforge.sandbox import Limits, run_workflow

    task = asyncio.ensure_future(run_workflow(program, inst.problem, run.call_op,
                                              limits=Limits(wall_s=timeout_s), paused=run.clock.waited))
    t0 = time.monotonic()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if done:
                break
            if time.monotonic() - t0 - run.clock.waited() > timeout_s + 10:  # the sandbox's own clock failed
                return ExecResult(False, error="Timeout", message=f"workflow exceeded {timeout_s:g}s", timeout=True)
            if run.clock.waited() > backend_timeout_s:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return ExecResult(False, error=BACKEND_TIMEOUT, message=f"waited {run.clock.waited():.0f}s on the "
                                  f"backend (limit {backend_timeout_s:g}s); retried on resume")
        return task.result()
    except SandboxError as e:
        run.infra.append(f"SandboxError: {e}")
        return ExecResult(success=False, error="SandboxError", message=str(e))
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


# Scorers run in threads of their own: a code answer's scorer blocks for its sandboxed tests, and
# in asyncio's default executor (cpu_count + 4 threads) a few of them starved everything else there.
_SCORERS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="scorer")


async def _score(task, answer: str, inst: Instance, limit_s: float) -> tuple[float, str | None, str]:
    """(score, error, explanation). A scorer past its time is the answer's fault (0); a scorer
    that fails is infrastructure (NaN). Scorers bound their own work, so the thread ends soon."""
    try:
        scoring = asyncio.get_running_loop().run_in_executor(_SCORERS, task.score, answer, inst)
        verdict = await asyncio.wait_for(scoring, limit_s)
        return float(verdict.value), None, verdict.explanation
    except asyncio.TimeoutError:
        return 0.0, None, f"scoring did not finish within {limit_s:.0f}s"
    except Exception as e:  # scorer infrastructure: unscored, never a silent 0
        return float("nan"), f"ScorerError: {type(e).__name__}: {e}", ""


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
    scored: bool = True,
    backend_timeout_s: float | None = None,
) -> RunSummary:
    """Validate `source` (WorkflowError: nothing runs), then run it on `instances`.

    timeout_s: each instance's own work (workflow, operators, scorer). backend_timeout_s: how long
    one instance may wait on the backend in total (default 4 x timeout_s, at least 600 s).
    out_dir: the run directory (resumed if it exists). max_tokens caps every executor call.
    meta: extra fields pinned in run.json (e.g. split). on_result: called per finished instance.
    scored=False: run only (answers unscored, NaN); errors are still recorded.
    """
    opset = opset.for_task(task)
    validate_workflow(source, opset)
    if backend_timeout_s is None:
        backend_timeout_s = max(600.0, 4 * timeout_s)
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
            return await _run_one(source, task, inst, run, timeout_s, backend_timeout_s, scored), run.calls

    jobs = [asyncio.ensure_future(one(i)) for i in todo]
    try:
        for fut in asyncio.as_completed(jobs):
            result, calls = await fut
            if rundir:
                rundir.append(result, calls)
            done[result.instance_id] = result
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
            rundir.write_summary({**summary.to_dict(), "complete": rundir.complete([i.id for i in instances])})
            rundir.close()
        if summary.backend_timeouts:
            _log.warning("%d instance(s) unscored: the backend did not answer within %gs; resume the run to "
                         "retry them", summary.backend_timeouts, backend_timeout_s)
    return summary


__all__ = ["RunSummary", "run_workflow_on_instances", "workflow_sha"]
