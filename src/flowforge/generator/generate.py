"""Write workflows with a generator model: one greedy sample by default, or best-of-N
selected on a validation split (never on test).

A greedy sample that fails validation is not handed to the user as is: up to `attempts - 1`
temperature samples are drawn (one batched call) and the first valid one is kept. With an
executor, "valid" also means it survives a smoke run (generator/smoke.py: a few problems, inputs
only, unscored): a crash there counts as invalid. The header of the written workflow says which
attempt it is and how the smoke run went.

The prompt lists, and the validator allows, only the operators the task's instances can serve
(`OperatorSet.for_task`).

On backends that can mask tokens (local ones), operator calls are constrained while decoding:
names from the operator set, keyword arguments from the signature, required ones all given
(generator/constrain.py), and no argument closed while its value's static type contradicts the
parameter's (generator/typed_args.py); `constrain=False` turns it off.

    flowforge generate --task gsm8k -o gsm8k.py
    flowforge generate --task drop --samples 4 --select-on validate -o drop.py
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flowforge.errors import UserError
from flowforge.generator.parse import ParsedWorkflow
from flowforge.generator.prompt import WORKFLOW
from flowforge.generator.typed_args import TypedOpsConstraint
from flowforge.generator.smoke import SmokeResult, smoke_run
from flowforge.tasks.task import TUNING_SPLITS
from flowforge.workflow.rundir import workflow_sha
from flowforge.types import Usage

if TYPE_CHECKING:
    from flowforge.llm.base import LLM
    from flowforge.operators import OperatorSet
    from flowforge.tasks import Task

MAX_TOKENS = 320
ATTEMPTS = 8  # greedy + up to 7 resamples (one batched call) when the greedy workflow is invalid
SAMPLE_TEMPERATURE = 0.8  # n > 1 samples (best-of-N, teacher samples, per-sample validity)
RESAMPLE_TEMPERATURE = 0.7  # the resamples after an invalid greedy workflow


@dataclass
class Generation:
    """What one generator call produced, plus how it was selected."""

    candidates: list[ParsedWorkflow]
    usage: Usage
    selected: ParsedWorkflow | None = None
    selection: str = "single sample"
    selection_scores: list[float | None] = field(default_factory=list)
    selection_usage: Usage = field(default_factory=Usage)
    constrained: bool = False  # operator calls were constrained while decoding
    smoke: dict[str, SmokeResult] = field(default_factory=dict)  # source -> its smoke run

    @property
    def smoke_result(self) -> SmokeResult | None:
        return self.smoke.get(self.selected.source) if self.selected is not None else None

    @property
    def attempt(self) -> int | None:
        """1-based index of the selected workflow among the candidates, if it is valid."""
        sel = self.selected
        return self.candidates.index(sel) + 1 if sel is not None and sel.valid else None


def example_problems(task: "Task", k: int) -> list[str]:
    """Up to k example problems (no answers) from a training-side split, never test."""
    if k <= 0:
        return []
    for split in task.train_splits or []:
        return [inst.problem for inst in task.load(split, limit=k)]
    return []


async def sample_workflows(
    task: "Task",
    opset: "OperatorSet",
    generator: "LLM",
    *,
    n: int = 1,
    temperature: float | None = None,
    seed: int | None = 0,
    examples: int = 0,
    constrain: bool = True,
) -> Generation:
    """n generations for (task, operator set); greedy when n == 1 unless a temperature is given.
    With `constrain` (and a backend that supports it) operator calls are constrained to the set's."""
    temp = temperature if temperature is not None else (0.0 if n == 1 else SAMPLE_TEMPERATURE)
    opset = opset.for_task(task)
    messages = WORKFLOW.messages(task.description, task.answer_format, opset, example_problems(task, examples))
    constrained = constrain and getattr(generator, "supports_constraints", False)
    kw = {"constraint": TypedOpsConstraint.for_opset(opset)} if constrained else {}
    out = await generator.complete(messages, n=n, temperature=temp, max_tokens=MAX_TOKENS, seed=seed, **kw)
    return Generation([WORKFLOW.parse(text, opset) for text in out.texts], out.usage, constrained=constrained)


async def generate_workflow(
    task: "Task",
    opset: "OperatorSet",
    generator: "LLM",
    *,
    samples: int = 1,
    select_on: str | None = None,
    select_limit: int = 8,
    executor: "LLM | None" = None,
    temperature: float | None = None,
    seed: int | None = 0,
    examples: int = 0,
    attempts: int = ATTEMPTS,
    constrain: bool = True,
    smoke: bool = True,
) -> Generation:
    """One workflow, or the best of `samples` by mean score on `select_on` (validate/train only).
    A single invalid sample is followed by up to `attempts - 1` resamples (first valid kept).
    With an executor and `smoke`, a candidate that crashes in its smoke run is invalid."""
    if samples < 1:
        raise UserError(f"--samples must be at least 1, got {samples}")
    if attempts < 1:
        raise UserError(f"--attempts must be at least 1, got {attempts}")
    if samples > 1 and select_on:
        if select_on not in TUNING_SPLITS:
            raise UserError(f"--select-on must be one of {', '.join(TUNING_SPLITS)} (selection never uses test), got {select_on!r}")
        if select_on not in task.splits:
            raise UserError(f"task {task.name} has no {select_on!r} split to select on; "
                            f"it has {', '.join(task.splits)} (best-of-N never selects on test)")
        if executor is None:
            raise UserError("best-of-N selection needs an executor")
    opset = opset.for_task(task)
    gen = await sample_workflows(task, opset, generator, n=samples, temperature=temperature, seed=seed,
                                 examples=examples, constrain=constrain)

    async def runs(cand: ParsedWorkflow) -> bool:
        """Valid, and (with an executor) no crash in its smoke run; a crash makes it invalid."""
        if cand.valid and smoke and executor is not None:
            if cand.source not in gen.smoke:
                gen.smoke[cand.source] = await smoke_run(cand.source, task, opset, executor)
            result = gen.smoke[cand.source]
            if not result.passed:
                cand.valid, cand.error = False, f"smoke run crashed on {result.split} problem {result.crash}"
        return cand.valid

    if samples == 1 or not select_on:  # in order, up to the first that runs
        for cand in gen.candidates:
            if await runs(cand):
                break
    else:
        for cand in gen.candidates:
            await runs(cand)
    if samples == 1 and attempts > 1 and not gen.candidates[0].valid:
        more = await sample_workflows(task, opset, generator, n=attempts - 1, temperature=RESAMPLE_TEMPERATURE,
                                      seed=None if seed is None else seed + 1, examples=examples, constrain=constrain)
        gen.candidates += more.candidates
        gen.usage.add(more.usage)
        for cand in more.candidates:
            if await runs(cand):
                break
    valid = [c for c in gen.candidates if c.valid]
    if samples == 1 or not select_on:
        gen.selected = valid[0] if valid else gen.candidates[0]
        if samples > 1:
            gen.selection = f"first valid of {samples} samples (unselected)"
        elif len(gen.candidates) == 1:
            gen.selection = "single sample (greedy)"
        else:
            gen.selection = (f"greedy sample invalid; attempt {gen.attempt} of {len(gen.candidates)} (validator-guided resampling)"
                             if gen.attempt else f"no valid workflow in {len(gen.candidates)} attempts")
        return gen
    from flowforge.workflow.runtime import run_workflow_on_instances

    instances = task.load(select_on, limit=select_limit)
    seen: dict[str, float] = {}
    for cand in gen.candidates:
        if not cand.valid:
            gen.selection_scores.append(None)
            continue
        key = workflow_sha(cand.source)
        if key not in seen:  # identical workflows are run once
            summary = await run_workflow_on_instances(cand.source, task, instances, executor=executor, opset=opset)
            seen[key] = summary.score
            gen.selection_usage.add(summary.usage)
        gen.selection_scores.append(seen[key])
    scored = [(s, i) for i, s in enumerate(gen.selection_scores) if s is not None]
    best = max(scored, key=lambda t: (t[0], -t[1]))[1] if scored else 0
    gen.selected = gen.candidates[best]
    gen.selection = f"best-of-{samples} (validation-selected on {select_on}, {len(instances)} instances)"
    return gen


def workflow_header(task: "Task", opset: "OperatorSet", generator_name: str, gen: Generation) -> str:
    """Comment block written above a generated workflow, labelling how it was obtained."""
    sel = gen.selected
    lines = [
        f"# flowforge workflow for task {task.name} (operators: {opset.name})",
        f"# generator: {generator_name}; {gen.selection}" + ("; operator calls constrained" if gen.constrained else ""),
        f"# generator cost: {gen.usage.calls} calls, {gen.usage.tokens} tokens"
        + (f"; selection runs: {gen.selection_usage.calls} calls, {gen.selection_usage.tokens} tokens"
           if gen.selection_usage.calls else ""),
    ]
    if gen.smoke_result is not None:
        lines.append(f"# smoke run: {gen.smoke_result} (inputs only, unscored)")
    if sel is not None and not sel.valid:
        lines.append(f"# INVALID: {sel.error}")
    if sel is not None and sel.repairs:
        lines.append(f"# repaired: {', '.join(sel.repairs)}")
    return "\n".join(lines) + "\n"
