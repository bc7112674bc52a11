"""Synthetic SFT data for the generator: sample candidate workflows, run them, keep the best.

    flowforge train synth --out runs/synth                      # embedded executor, K=3
    flowforge train synth --out runs/synth --teacher openai:gpt-4o-mini@https://api.openai.com/v1

1. For every training task (ARCHITECTURE.md protocol: gsm8k train, math/mbpp/drop validate, the 12 BBH
   training tasks' train split, `synth/*` train; held-out tasks are refused), sample candidate
   workflows from `training/templates.py` (plus, optionally, a teacher generator). On procedural
   tasks the curriculum's compositions join them (never the held-out families' winners). A
   baseline (`io` by default) runs too.
2. Run each candidate on the same K training instances with the executor through
   `run_workflow_on_instances`; append the result to `candidates.jsonl` at once (rerunning skips
   finished candidates, so the command is resumable).
3. Per task, rank valid candidates that ran without an error on every instance and beat the
   baseline's mean by mean score (ties: fewer tokens) and keep the top m; candidates that
   crashed are dropped and counted.
4. Augment the operator set of every kept workflow (random subsets that keep what it calls,
   shuffled order, consistent renamings) and emit {prompt: generator messages, completion}
   pairs with provenance to `sft.jsonl`, deduplicated; `synth_summary.json` holds the counts.

Renaming and subsetting do not change what a workflow does, so each workflow is executed once
(on the base set) and its score carries over to its augmented copies.
"""
from __future__ import annotations

import asyncio
import ast
import hashlib
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowforge.errors import UserError
from flowforge.operators.augment import AUG_KINDS, augment_opset, impl_names, rename_ops
from flowforge.store import JsonlAppender
from flowforge.training import templates as T
from flowforge.training.config import SynthConfig

if TYPE_CHECKING:
    from flowforge.llm.base import LLM
    from flowforge.operators import OperatorSet
    from flowforge.tasks import Task

# ---- which tasks may be trained on ------------------------------------------------------

def assert_trainable(task: "Task") -> None:
    """Held-out tasks never contribute training data (ARCHITECTURE.md, Evaluation protocol)."""
    if task.heldout:
        raise UserError(f"task {task.name} is held out (zero-shot evaluation only); it may never be used for "
                        "training, synthetic data or selection. Drop it from --tasks.")
    if not task.train_splits:
        raise UserError(f"task {task.name} has no training split; training may use only train/validate splits")


def training_tasks(names: list[str] | None = None) -> list["Task"]:
    from flowforge.tasks import get_task, list_tasks

    tasks = [get_task(n) for n in names] if names else [t for t in list_tasks() if not t.heldout and t.train_splits]
    for t in tasks:
        assert_trainable(t)
    return tasks


# ---- candidates ---------------------------------------------------------------------------

@dataclass
class Candidate:
    task: str
    template: str
    params: dict[str, Any]
    source: str

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.task}\n{self.source}".encode()).hexdigest()[:16]


def template_candidates(task: "Task", opset: "OperatorSet", cfg: SynthConfig) -> list[Candidate]:
    """Up to cfg.candidates_per_task distinct template workflows for a task, heavy ones capped."""
    rng = random.Random(f"{cfg.seed}/templates/{task.name}")
    names = impl_names(opset)
    fits = [t for t in T.TEMPLATES if task.domain in t.domains and all(i in names for i in t.needs)]
    out: dict[str, Candidate] = {}
    heavy = 0
    for round_ in range(6):  # round robin: each template once, then more knob variations
        for t in fits:
            if len(out) >= cfg.candidates_per_task:
                return list(out.values())
            if t.cost == T.HEAVY and heavy >= cfg.max_heavy_per_task:
                continue
            params = t.sample_params(rng)
            if not all(i in names for i in T.needs(t, params)):
                continue
            cand = Candidate(task.name, t.name, params, T.render(t, params, names))
            if cand.key not in out:
                out[cand.key] = cand
                heavy += t.cost == T.HEAVY
    return list(out.values())


def composition_candidates(task: "Task", opset: "OperatorSet") -> list[Candidate]:
    """On a procedural task, the curriculum's training compositions that are valid for it."""
    from flowforge.generator.parse import parse_workflow
    from flowforge.tasks.synth.compositions import training_compositions

    if not task.procedural:
        return []
    served = opset.for_task(task)
    return [Candidate(task.name, f"comp:{name}", {}, src) for name, src in training_compositions().items()
            if parse_workflow(src, served).valid]


def baseline_candidate(task: "Task", name: str, opset: "OperatorSet") -> Candidate:
    """The reference workflow every kept candidate of `task` must beat on the same instances."""
    from flowforge.workflow.reference import load_reference

    return Candidate(task.name, f"baseline:{name}", {}, load_reference(name, opset).source)


async def teacher_candidates(task: "Task", opset: "OperatorSet", teacher: "LLM", cfg: SynthConfig) -> list[Candidate]:
    from flowforge.generator.generate import SAMPLE_TEMPERATURE, sample_workflows

    if cfg.teacher_samples < 1:
        return []
    gen = await sample_workflows(task, opset, teacher, n=cfg.teacher_samples, temperature=SAMPLE_TEMPERATURE, seed=cfg.seed)
    return [Candidate(task.name, "teacher", {"spec": cfg.teacher}, c.source) for c in gen.candidates if c.valid]


async def run_candidate(cand: Candidate, task: "Task", instances, opset, executor: "LLM", cfg: SynthConfig) -> dict[str, Any]:
    """Execute one candidate on the task's K instances; the record appended to candidates.jsonl."""
    from flowforge.generator.parse import parse_workflow
    from flowforge.workflow.runtime import run_workflow_on_instances

    parsed = parse_workflow(cand.source, opset.for_task(task))
    rec: dict[str, Any] = {"key": cand.key, "task": cand.task, "template": cand.template, "params": cand.params,
                           "source": parsed.source, "valid": parsed.valid, "error": parsed.error, "k": len(instances),
                           "instances": [i.id for i in instances], "executor": cfg.executor}
    if not parsed.valid:
        return {**rec, "score": None}
    s = await run_workflow_on_instances(parsed.source, task, instances, executor=executor, opset=opset,
                                        concurrency=cfg.concurrency, max_tokens=cfg.max_tokens)
    scores = [r.score for r in s.results]
    first_error = next((r.error[:300] for r in s.results if r.error), None)
    return {**rec, "score": None if math.isnan(s.score) else s.score, "scores": scores, "errors": s.errors,
            "first_error": first_error, "tokens": s.usage.tokens, "calls": s.usage.calls, "seconds": round(s.seconds, 2)}


# ---- selection and SFT pairs ----------------------------------------------------------------

def select_top(records: list[dict[str, Any]], top_m: int, min_score: float) -> dict[str, list[dict[str, Any]]]:
    """Per task: valid, scored records that never crashed and beat the task's baseline record
    (if it has one), ranked by mean score, then fewer tokens; top m kept."""
    bar = {r["task"]: r.get("score") for r in records if is_baseline(r)}
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if is_baseline(r) or not r.get("valid") or crashed(r) or r.get("score") is None or r["score"] < min_score:
            continue
        if r["task"] in bar and r["score"] <= (bar[r["task"]] or 0.0):
            continue
        by_task.setdefault(r["task"], []).append(r)
    return {t: sorted(rs, key=lambda r: (-r["score"], r.get("tokens", 0), r["key"]))[:top_m] for t, rs in by_task.items()}


def is_baseline(rec: dict[str, Any]) -> bool:
    return rec.get("template", "").startswith("baseline:")


def crashed(rec: dict[str, Any]) -> bool:
    """A candidate that ran and raised an error on at least one instance."""
    return bool(rec.get("errors"))


def sft_pairs(rec: dict[str, Any], task: "Task", base: "OperatorSet", n_variants: int, seed: int) -> list[dict[str, Any]]:
    """The kept workflow under n_variants operator sets: prompt messages + completion + provenance."""
    from flowforge.generator.prompt import WORKFLOW
    from flowforge.workflow.validate import operators_used

    rng = random.Random(f"{seed}/augment/{rec['key']}")
    used = operators_used(ast.parse(rec["source"]))
    out = []
    for i in range(n_variants):
        kind = "base" if i == 0 else rng.choice(AUG_KINDS)
        opset, mapping = (base, {}) if kind == "base" else augment_opset(base, used, rng, kind)
        opset = opset.for_task(task)  # the prompt lists what `flowforge generate` shows for this task
        source = rename_ops(rec["source"], mapping)
        completion = WORKFLOW.target(source)
        parsed = WORKFLOW.parse(completion, opset)
        if not parsed.valid:  # never emit a target that the generator's own parser rejects
            raise AssertionError(f"augmented workflow invalid against {opset.name}: {parsed.error}")
        out.append({
            "prompt": WORKFLOW.messages(task.description, task.answer_format, opset),
            "completion": completion,
            "meta": {"task": task.name, "template": rec["template"], "params": rec["params"],
                     "opset": opset.name, "augment": kind, "rename": mapping, "operators": opset.names,
                     "score": rec["score"], "scores": rec.get("scores"), "k": rec["k"],
                     "executor": rec["executor"], "candidate": rec["key"]},
        })
    return out


def dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for r in rows:
        h = hashlib.sha256(json.dumps([r["prompt"], r["completion"]], sort_keys=True).encode()).hexdigest()
        if h not in seen:
            seen.add(h)
            out.append(r)
    return out


# ---- the whole run ---------------------------------------------------------------------------

async def _run(cfg: SynthConfig, executor: "LLM", teacher: "LLM | None", progress=None) -> dict[str, Any]:
    from flowforge.operators import load_operator_set

    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    base = load_operator_set(cfg.operators)
    tasks = training_tasks(cfg.tasks)
    t0 = time.monotonic()
    plan: list[tuple[Task, list, list[Candidate]]] = []
    for task in tasks:
        cands = template_candidates(task, base, cfg)
        if cfg.compositions:
            cands += composition_candidates(task, base)
        if cfg.baseline:
            cands.append(baseline_candidate(task, cfg.baseline, base))
        if teacher is not None:
            cands += await teacher_candidates(task, base, teacher, cfg)
        plan.append((task, task.sample(task.training_split, cfg.k, cfg.seed), cands))
    total = sum(len(c) for _, _, c in plan)
    ran = 0
    gate = asyncio.Semaphore(cfg.parallel_candidates)
    with JsonlAppender(cfg.out_dir / "candidates.jsonl") as log:  # a candidate cut by a crash reruns
        done = {rec["key"]: rec for rec in log.records}
        bar = progress.add_task("candidates", total=total, completed=sum(c.key in done for _, _, cs in plan for c in cs)) if progress else None

        async def one(task: "Task", instances, c: Candidate) -> None:
            nonlocal ran
            async with gate:
                rec = await run_candidate(c, task, instances, base, executor, cfg)
            log.append(rec)
            done[c.key] = rec
            ran += 1
            if progress:
                progress.update(bar, advance=1, description=f"candidates ({task.name})")

        # candidates of all tasks run concurrently, so their LLM calls share micro-batches
        await asyncio.gather(*(one(t, inst, c) for t, inst, cs in plan for c in cs if c.key not in done))
    keys = {c.key for _, _, cs in plan for c in cs}
    records = [r for k, r in done.items() if k in keys]
    kept = select_top(records, cfg.top_m, cfg.min_score)
    by_name = {t.name: t for t in tasks}
    rows = []
    for tname, recs in sorted(kept.items()):  # sorted: the shuffle below must not see completion order
        for rec in recs:
            rows += sft_pairs(rec, by_name[tname], base, cfg.augment, cfg.seed)
    rows = dedupe(rows)
    random.Random(cfg.seed).shuffle(rows)
    (cfg.out_dir / "sft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {
        "tasks": len(tasks), "k": cfg.k, "executor": cfg.executor, "teacher": cfg.teacher, "top_m": cfg.top_m,
        "candidates_run": len(records), "ran_this_session": ran, "valid": sum(bool(r.get("valid")) for r in records),
        "dropped_crashed": sum(crashed(r) for r in records), "baseline": cfg.baseline,
        "sft_examples": len(rows), "seconds_this_session": round(time.monotonic() - t0, 1),
        "per_task": {t.name: {"candidates": sum(r["task"] == t.name for r in records),
                              "best": max((r["score"] for r in records if r["task"] == t.name and r.get("score") is not None
                                           and not is_baseline(r)), default=None),
                              "baseline": next((r["score"] for r in records if r["task"] == t.name and is_baseline(r)), None),
                              "kept": [(r["template"], r["score"]) for r in kept.get(t.name, [])]} for t in tasks},
        "executor_usage": executor.usage.to_dict(),
    }
    (cfg.out_dir / "synth_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def run_synth(cfg: SynthConfig, executor: "LLM | None" = None, teacher: "LLM | None" = None, show: bool = True) -> dict[str, Any]:
    """Entry point for the CLI and tests; backends default to the config's specs."""
    from flowforge.llm import load_llm

    executor = executor or load_llm(cfg.executor)
    if teacher is None and cfg.teacher:
        teacher = load_llm(cfg.teacher)
    if not show:
        return asyncio.run(_run(cfg, executor, teacher))
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as p:
        return asyncio.run(_run(cfg, executor, teacher, p))
