"""AFlow-style workflow search: the baseline MetaFlow replaces with one-pass generation.

    flowforge search --task gsm8k --rounds 5 --optimizer embedded --out runs/search-gsm8k
    flowforge search --task bbh/snarks --rounds 10 --optimizer openai:gpt-4o-mini@https://api.openai.com/v1

Written from the AFlow paper's description (Zhang et al., 2024), not from its code:
0. evaluate a seed workflow (cot by default) on the search split;
1. each round, pick a parent among the top-k workflows so far with AFlow's mixed probability
   p_i = lambda / k + (1 - lambda) * softmax(alpha * (s_i - s_max));
2. show the optimizer LLM the parent's code and score, a few failing examples and the operator
   set, and ask for one modification;
3. parse/repair/validate the reply with the generator's parser, evaluate it on the search split
   (validate, else train; never test), and append the round to `history.jsonl`.
Every optimizer and executor call is counted; a rerun into the same dir resumes after the last
finished round.

Departures from AFlow:
- no MCTS tree of experience: the prompt shows the parent's own result, not a summary of every
  modification tried from that node; no "modification succeeded/failed" log;
- far fewer rounds (default 5, AFlow uses 20) and a small search slice (default 8 instances),
  so search fits a CPU budget; AFlow evaluates each candidate 5 times, here once;
- no convergence-based early stop; scores are in [0, 1], so alpha is 10 instead of AFlow's 0.2
  on percentages (a similar sharpness);
- a workflow identical to an earlier one is not re-evaluated: it inherits that score.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowforge.errors import UserError
from flowforge.store import JsonlAppender, read_records
from flowforge.workflow.rundir import workflow_sha
from flowforge.types import Usage

if TYPE_CHECKING:
    from flowforge.llm.base import LLM, Messages
    from flowforge.operators import OperatorSet
    from flowforge.tasks import Task

SYSTEM = ("You improve Python workflows that solve every instance of a task by calling operators. "
          "Reply with one code block holding the whole improved workflow.")


@dataclass
class SearchConfig:
    rounds: int = field(default=5, metadata={"help": "optimisation rounds after the seed"})
    val_limit: int = field(default=8, metadata={"help": "instances of the search split per evaluation"})
    split: str | None = field(default=None, metadata={"help": "search split; None = validate, else train"})
    seed_workflow: str = field(default="cot", metadata={"help": "reference workflow to start from"})
    top_k: int = field(default=3, metadata={"help": "parents are drawn from the top-k so far"})
    alpha: float = field(default=10.0, metadata={"help": "softmax sharpness over scores in [0,1]"})
    mix: float = field(default=0.2, metadata={"help": "lambda: weight of the uniform part"})
    failures_shown: int = field(default=3, metadata={"help": "failing examples in the prompt"})
    temperature: float = field(default=0.7, metadata={"help": "optimizer sampling temperature"})
    max_tokens: int = field(default=400, metadata={"help": "optimizer reply budget"})
    seed: int = field(default=0, metadata={"help": "parent draws and optimizer sampling"})

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise UserError(f"--rounds must be >= 0, got {self.rounds}")
        if self.val_limit < 1:
            raise UserError(f"--val-limit must be >= 1, got {self.val_limit}")
        if self.split == "test":
            raise UserError("search may not use the test split; use validate or train")
        if not 0 <= self.mix <= 1:
            raise UserError(f"mix (lambda) must be in [0, 1], got {self.mix}")


@dataclass
class Round:
    """One line of history.jsonl."""

    round: int
    parent: int | None
    source: str
    valid: bool
    score: float | None
    error: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    optimizer_usage: dict[str, Any] = field(default_factory=dict)
    executor_usage: dict[str, Any] = field(default_factory=dict)
    duplicate_of: int | None = None


@dataclass
class SearchResult:
    best_source: str
    best_score: float
    best_round: int
    rounds: int  # optimisation rounds finished (seed excluded)
    usage: Usage  # all optimizer + executor calls of the whole search, resumed parts included
    history: list[Round]


def select_parent(history: list[Round], cfg: SearchConfig, rng: random.Random) -> Round:
    """AFlow's mixed uniform/softmax draw over the top-k scored workflows."""
    scored = sorted((r for r in history if r.valid and r.score is not None),
                    key=lambda r: (-r.score, r.round))[: cfg.top_k]
    if not scored:  # every evaluation so far was unscored (infrastructure): modify the seed
        return history[0]
    top = max(r.score for r in scored)
    weights = [math.exp(cfg.alpha * (r.score - top)) for r in scored]
    total = sum(weights)
    probs = [cfg.mix / len(scored) + (1 - cfg.mix) * w / total for w in weights]
    return rng.choices(scored, weights=probs, k=1)[0]


def optimizer_messages(task: "Task", opset: "OperatorSet", parent: Round) -> "Messages":
    """Prompt for one modification of `parent`."""
    from flowforge.generator.prompt import WORKFLOW

    parts = [*WORKFLOW.task_lines(task.description, task.answer_format, opset),
             f"Current workflow (score {'unscored' if parent.score is None else f'{parent.score:.3f}'} "
             f"on {task.name}):",
             f"```python\n{parent.source.strip()}\n```"]
    if parent.failures:
        parts.append("It failed on these examples:")
        for i, f in enumerate(parent.failures, 1):
            parts.append(f"{i}. problem: {f['problem']}\n   expected: {f['expected']}\n   got: {f['got']}")
    parts.append("Make ONE change that should raise the score (add or remove an operator, change an "
                 "instruction, add a check or an ensemble). Keep `async def solve(problem, ops):`, "
                 "no imports, return the final answer as a string. Put a one-line docstring saying "
                 "what you changed.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def _short(text: Any, n: int = 240) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= n else s[:n] + "..."


async def evaluate(source: str, task: "Task", opset: "OperatorSet", instances: list, executor: "LLM",
                   out_dir: Path, shown: int, split: str) -> tuple[float | None, Usage, list[dict[str, str]]]:
    """Mean score on the search slice, its executor usage, and a few failing examples."""
    from flowforge.workflow.runtime import run_workflow_on_instances

    summary = await run_workflow_on_instances(source, task, instances, executor=executor, opset=opset,
                                              out_dir=out_dir, meta={"split": split})
    by_id = {inst.id: inst for inst in instances}
    failures = []
    for res in sorted(summary.results, key=lambda r: r.score):
        if len(failures) >= shown or res.score >= 1.0:
            break
        inst = by_id.get(res.instance_id)
        if inst is not None:
            got = res.answer if not res.error else f"{res.answer} (error: {res.error})"
            failures.append({"problem": _short(inst.problem), "expected": _short(inst.reference, 120),
                             "got": _short(got, 160)})
    score = None if math.isnan(summary.score) else summary.score  # NaN = nothing scored
    return score, summary.usage, failures


def load_history(path: Path) -> list[Round]:
    """The rounds of a history.jsonl (a round cut by a crash is dropped and runs again)."""
    try:
        return [Round(**rec) for rec in read_records(path)]
    except TypeError as e:
        raise UserError(f"{path}: not a search history ({e}); use a fresh --out dir") from None


def _check_config(out_dir: Path, meta: dict[str, Any]) -> None:
    path = out_dir / "config.json"
    if path.exists():
        old = json.loads(path.read_text())
        changed = [k for k in meta if k != "rounds" and old.get(k) != meta[k]]
        if changed:
            raise UserError(f"{out_dir} holds a search with different {', '.join(changed)}; "
                            "use a fresh --out dir to change them")
    path.write_text(json.dumps(meta, indent=2))


async def run_search(task: "Task", opset: "OperatorSet", *, optimizer: "LLM", executor: "LLM",
                     out_dir: Path, config: SearchConfig | None = None) -> SearchResult:
    """Run (or resume) the search; returns the best workflow on the search split."""
    from flowforge.generator.prompt import WORKFLOW
    from flowforge.workflow.reference import load_reference

    cfg = config or SearchConfig()
    split = cfg.split or task.tuning_split
    if split is None:
        raise UserError(f"task {task.name} has no validate/train split to search on (search never uses test)")
    if split not in task.splits:
        raise UserError(f"task {task.name} has no split {split!r}; it has {', '.join(task.splits)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_config(out_dir, {"task": task.name, "operators": opset.name, "split": split,
                            "val_limit": cfg.val_limit, "seed_workflow": cfg.seed_workflow,
                            "optimizer": optimizer.name, "executor": executor.name,
                            "rounds": cfg.rounds, **{k: v for k, v in asdict(cfg).items()
                                                     if k not in ("rounds", "split", "val_limit")}})
    hist_path = out_dir / "history.jsonl"
    history = load_history(hist_path)
    instances = task.load(split, limit=cfg.val_limit)
    if not instances:
        raise UserError(f"task {task.name} split {split!r} is empty")

    def append(r: Round) -> None:
        history.append(r)
        with JsonlAppender(hist_path) as log:
            log.append(asdict(r))

    if not history:  # 0. the seed
        seed = load_reference(cfg.seed_workflow, opset)
        score, usage, fails = await evaluate(seed.source, task, opset, instances, executor,
                                             out_dir / "round_0", cfg.failures_shown, split)
        append(Round(0, None, seed.source, True, score, failures=fails, executor_usage=usage.to_dict(),
                     error=None if score is not None else "unscored (infrastructure errors)"))
    while len(history) <= cfg.rounds:
        r = len(history)
        parent = select_parent(history, cfg, random.Random(cfg.seed * 1000 + r))
        before = Usage().add(optimizer.usage)
        out = await optimizer.complete(optimizer_messages(task, opset, parent), n=1,
                                       temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                                       seed=cfg.seed * 1000 + r)
        opt_usage = out.usage if out.usage.calls else _delta(optimizer.usage, before)
        parsed = WORKFLOW.parse(out.texts[0], opset.for_task(task))  # operators the task cannot serve: invalid
        if not parsed.valid:
            append(Round(r, parent.round, parsed.source, False, None, parsed.error,
                         optimizer_usage=opt_usage.to_dict()))
            continue
        key = workflow_sha(parsed.source)
        dup = next((h for h in history if h.valid and h.score is not None and workflow_sha(h.source) == key), None)
        if dup is not None:
            append(Round(r, parent.round, parsed.source, True, dup.score, failures=dup.failures,
                         optimizer_usage=opt_usage.to_dict(), duplicate_of=dup.round))
            continue
        score, usage, fails = await evaluate(parsed.source, task, opset, instances, executor,
                                             out_dir / f"round_{r}", cfg.failures_shown, split)
        append(Round(r, parent.round, parsed.source, True, score, failures=fails,
                     optimizer_usage=opt_usage.to_dict(), executor_usage=usage.to_dict()))
    return summarise(history[: cfg.rounds + 1], out_dir)


def _delta(now: Usage, before: Usage) -> Usage:
    return Usage(now.calls - before.calls, now.prompt_tokens - before.prompt_tokens,
                 now.completion_tokens - before.completion_tokens, now.seconds - before.seconds,
                 now.cached_calls - before.cached_calls)


def summarise(history: list[Round], out_dir: Path | None = None) -> SearchResult:
    """Best workflow (earliest among ties) and the total cost of the search; writes best.py."""
    usage = Usage()
    for r in history:
        usage.add(Usage(**r.optimizer_usage)).add(Usage(**r.executor_usage))
    scored = [r for r in history if r.valid and r.score is not None]
    if not scored:
        raise UserError("search produced no scored workflow (every evaluation was unscored; see the run dirs)")
    best = max(scored, key=lambda r: (r.score, -r.round))
    if out_dir is not None:
        (out_dir / "best.py").write_text(
            f"# AFlow-style search best: round {best.round}, search-split score {best.score:.4f}\n"
            f"# search cost: {usage.calls} calls, {usage.tokens} tokens\n" + best.source)
    return SearchResult(best.source, best.score, best.round, len(history) - 1, usage, history)
