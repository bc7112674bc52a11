"""The GRPO reward: a thin adapter from TRL's reward-function interface to the workflow runtime and
the task's own scorer (the same scorer evaluation uses).

For one generation batch, every completion is parsed and validated against its prompt's operator
set; the valid ones are executed on K training instances that are *the same for the whole group*
(sampled per step from a seed, so a group's rewards are comparable); identical workflows in a
group run once; all executions of the batch run concurrently on one event loop, through the
executor's response cache. The result is split into named parts, one TRL reward function each:

- `valid`    1 if the completion parses and validates, else 0 (reason logged)
- `score`    mean task score on the K instances (0 for invalid ones; None if unscored = NaN)
- `cost`     -(executor tokens per instance) / 1000
- `executes` fraction of instances that ran without an error: diagnostic, weight 0

Each logged completion also carries `calls`, its executor calls per instance, and `composition`,
the operators it calls (by implementation, so renamed sets compare) in source order. Neither is a
reward part: they are what `benchmarks/rl_compositions.py` reads to say what the policy moved to.

By default only `score` is weighted (RLRunConfig): `valid` and `cost` are terms a do-nothing
workflow collects (`return problem` is valid and free), so weighted they teach exactly that.

Infrastructure failures (backend, sandbox) propagate: they are never turned into a reward of 0.
"""
from __future__ import annotations

import ast
import asyncio
import json
import math
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from flowforge.llm.base import LLM
    from flowforge.operators import OperatorSet
    from flowforge.tasks import Task

PART_NAMES = ("valid", "score", "cost", "executes")


@dataclass
class Parts:
    valid: float
    score: float | None
    cost: float
    executes: float
    reason: str = ""
    calls: float = 0.0  # executor calls per instance: logged, never rewarded
    composition: str = ""  # implementations called, in source order, joined by " > "


class _Loop:
    """One event loop in a daemon thread: executor backends and caches stay bound to it across
    reward calls (TRL calls reward functions synchronously)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="flowforge-reward").start()

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


def completion_content(c: Any) -> str:
    """TRL passes conversational completions as message lists, standard ones as strings."""
    return c[-1]["content"] if isinstance(c, list) else str(c)


class WorkflowReward:
    """Computes all parts once per generation batch; `functions()` gives TRL one callable per part.

    `variants` maps a dataset row's `variant` id to its (task, operator set)."""

    def __init__(self, executor: "LLM", variants: dict[str, tuple["Task", "OperatorSet"]], *, k: int = 3,
                 seed: int = 0, concurrency: int = 16, timeout_s: float = 60.0, log_path: Path | None = None,
                 run: Callable | None = None):
        from flowforge.workflow.runtime import run_workflow_on_instances

        self.executor, self.variants, self.k, self.seed = executor, variants, k, seed
        self.concurrency, self.timeout_s = concurrency, timeout_s
        self.log_path = log_path
        self.run_fn = run or run_workflow_on_instances  # tests may wrap it to observe calls
        self._loop = _Loop()
        self._cache_key: tuple | None = None
        self._cache: list[Parts] = []
        self.seconds = 0.0  # total time spent computing rewards
        self.timeline: list[tuple[float, float]] = []  # (start, end) of each computation, monotonic
        self.calls = 0

    # -- TRL interface ------------------------------------------------------------------------
    def functions(self) -> list[Callable]:
        """One reward function per part, named `valid`, `score`, `cost`, `executes` (in PART_NAMES order)."""
        def make(part: str) -> Callable:
            def fn(prompts, completions, variant, trainer_state=None, log_metric=None, **kw) -> list[float | None]:
                parts = self.parts(completions, variant, trainer_state.global_step if trainer_state else 0, log_metric)
                return [getattr(p, part) for p in parts]

            fn.__name__ = part
            return fn

        return [make(p) for p in PART_NAMES]

    # -- computation --------------------------------------------------------------------------
    def parts(self, completions: list, variants: list[str], step: int, log_metric=None) -> list[Parts]:
        texts = [completion_content(c) for c in completions]
        key = (step, tuple(texts), tuple(variants))
        if key != self._cache_key:
            t0 = time.monotonic()
            self._cache = self._loop.run(self._compute(texts, variants, step))
            self._cache_key = key
            dt = time.monotonic() - t0
            self.seconds += dt
            self.timeline.append((t0, t0 + dt))
            self.calls += 1
            if log_metric is not None:
                log_metric("reward/seconds", dt)
                log_metric("reward/valid_rate", sum(p.valid for p in self._cache) / len(self._cache))
            self._log(step, texts, variants, self._cache)
        return self._cache

    async def _compute(self, texts: list[str], variants: list[str], step: int) -> list[Parts]:
        from flowforge.generator.prompt import WORKFLOW
        from flowforge.workflow.validate import operators_used

        runs: dict[tuple[str, str], asyncio.Task] = {}
        plan: list[tuple[tuple[str, str], str] | Parts] = []  # (run key, composition) or a verdict
        for text, vid in zip(texts, variants):
            task, opset = self.variants[vid]
            parsed = WORKFLOW.parse(text, opset.for_task(task))  # operators the task cannot serve: invalid
            if not parsed.valid:
                plan.append(Parts(valid=0.0, score=0.0, cost=0.0, executes=0.0, reason=parsed.error or "invalid"))
                continue
            composition = " > ".join(opset.get(n).impl for n in operators_used(ast.parse(parsed.source)))
            rkey = (vid, parsed.source)  # identical workflows in a group run once
            if rkey not in runs:  # every completion of a task at a step runs on the same K instances
                instances = task.sample(task.training_split, self.k, f"{self.seed}/step{step}")
                runs[rkey] = asyncio.ensure_future(self.run_fn(
                    parsed.source, task, instances, executor=self.executor, opset=opset,
                    concurrency=self.concurrency, timeout_s=self.timeout_s))
            plan.append((rkey, composition))
        summaries = dict(zip(runs, await asyncio.gather(*runs.values()))) if runs else {}
        out = []
        for item in plan:
            if isinstance(item, Parts):
                out.append(item)
                continue
            rkey, composition = item
            s = summaries[rkey]
            n = max(1, s.n)
            score = None if math.isnan(s.score) else float(s.score)
            out.append(Parts(valid=1.0, score=score, cost=-(s.usage.tokens / n) / 1000.0,
                             executes=1.0 - s.errors / n, reason="" if score is not None else "unscored (NaN)",
                             calls=s.usage.calls / n, composition=composition))
        return out

    def _log(self, step: int, texts: list[str], variants: list[str], parts: list[Parts]) -> None:
        if self.log_path is None:
            return
        with self.log_path.open("a") as f:
            for text, vid, p in zip(texts, variants, parts):
                f.write(json.dumps({"step": step, "variant": vid, **asdict(p), "completion": text[:2000]}) + "\n")
