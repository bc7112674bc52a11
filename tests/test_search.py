"""AFlow-style search: parent selection, history, every LLM call counted, resume, never test."""
from __future__ import annotations

import json
import random

import pytest

from flowforge.errors import UserError
from flowforge.search.aflow import Round, SearchConfig, run_search, select_parent, summarise
from fakes import FakeLLM

IO_VARIANT = '''Here is the change.
```python
async def solve(problem, ops):
    """Changed: answer directly, no format step."""
    result = await ops.answer_generate(input=problem)
    return result["answer"]
```'''
INVALID = '''```python
import os
async def solve(problem, ops):
    return os.getcwd()
```'''


def cycling(replies: list[str]):
    """A FakeLLM responder that repeats `replies` in order forever."""
    count = [0]

    def respond(messages):
        count[0] += 1
        return replies[(count[0] - 1) % len(replies)]

    return respond


def prompts(llm: FakeLLM) -> list[str]:
    return [c["messages"][-1]["content"] for c in llm.calls]


def test_select_parent_prefers_high_scores_but_explores():
    hist = [Round(0, None, "a", True, 0.2), Round(1, 0, "b", True, 0.8), Round(2, 0, "c", False, None),
            Round(3, 1, "d", True, 0.5), Round(4, 1, "e", True, 0.1)]
    cfg = SearchConfig(top_k=3)
    rng = random.Random(0)
    picks = [select_parent(hist, cfg, rng).round for _ in range(2000)]
    assert set(picks) == {0, 1, 3}  # top-3 valid only: never the invalid or the 4th
    assert picks.count(1) > picks.count(3) > picks.count(0) > 100


def test_search_config_refuses_test_split():
    with pytest.raises(UserError, match="test split"):
        SearchConfig(split="test")


async def test_search_two_rounds_history_counting_and_resume(tmp_path):
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task

    task = get_task("bbh/causal_judgement")
    opset = load_operator_set("default")
    executor = FakeLLM(lambda m: "Reasoning.\nAnswer: Yes", "fake-exec")
    optimizer = FakeLLM(cycling([IO_VARIANT, INVALID]), "fake-opt")
    cfg = SearchConfig(rounds=2, val_limit=4)
    res = await run_search(task, opset, optimizer=optimizer, executor=executor, out_dir=tmp_path, config=cfg)

    hist = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [h["round"] for h in hist] == [0, 1, 2]
    assert hist[0]["parent"] is None and hist[1]["parent"] == 0
    assert hist[1]["valid"] and "no format step" in hist[1]["source"]
    assert not hist[2]["valid"] and "import" in hist[2]["error"].lower() and hist[2]["score"] is None
    # the search split is train (causal_judgement has no validate); never test
    assert json.loads((tmp_path / "config.json").read_text())["split"] == "train"
    refs = [i.reference for i in task.load("train", limit=4)]
    yes = sum(str(r).strip().lower() == "yes" for r in refs) / 4
    assert hist[1]["score"] == pytest.approx(yes)
    # the optimizer saw the operator set, the parent code, its score and failing examples
    assert "sc_ensemble" in prompts(optimizer)[0] and "async def solve" in prompts(optimizer)[0]
    assert f"score {hist[0]['score']:.3f}" in prompts(optimizer)[0]
    # every call counted: 2 optimizer calls + all executor calls of rounds 0 and 1
    assert optimizer.usage.calls == 2
    assert sum(h["optimizer_usage"].get("calls", 0) for h in hist) == 2
    assert res.usage.calls == optimizer.usage.calls + executor.usage.calls
    assert res.usage.tokens == optimizer.usage.tokens + executor.usage.tokens
    assert hist[1]["executor_usage"]["calls"] == 4  # io variant: one call per instance
    assert res.rounds == 2 and res.best_score == max(hist[0]["score"], hist[1]["score"])
    assert (tmp_path / "best.py").read_text().count("async def solve") == 1

    # resume: one more round costs exactly one optimizer call; finished rounds are not redone
    exec_before = executor.usage.calls
    res2 = await run_search(task, opset, optimizer=optimizer, executor=executor, out_dir=tmp_path,
                            config=SearchConfig(rounds=3, val_limit=4))
    assert optimizer.usage.calls == 3 and len(res2.history) == 4
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 4
    assert res2.history[3].duplicate_of == 1 and executor.usage.calls == exec_before
    # a changed slice size in the same dir is refused rather than silently mixed
    with pytest.raises(UserError, match="val_limit"):
        await run_search(task, opset, optimizer=optimizer, executor=executor, out_dir=tmp_path,
                         config=SearchConfig(rounds=3, val_limit=5))


def test_summarise_picks_earliest_best_and_sums_cost():
    hist = [Round(0, None, "a", True, 0.5, executor_usage={"calls": 4, "prompt_tokens": 10}),
            Round(1, 0, "b", True, 0.5, optimizer_usage={"calls": 1, "completion_tokens": 5}),
            Round(2, 0, "c", False, None, optimizer_usage={"calls": 1})]
    res = summarise(hist)
    assert res.best_round == 0 and res.usage.calls == 6 and res.usage.tokens == 15


def test_optimizer_prompt_states_task_and_operators_like_the_generator_prompt():
    """Search's prompt opens with the same task lines as the generator's, so the operator header appears once."""
    from flowforge.generator.prompt import WORKFLOW
    from flowforge.operators import load_operator_set
    from flowforge.search.aflow import Round, optimizer_messages
    from flowforge.tasks import get_task

    task, opset = get_task("gsm8k"), load_operator_set("default")
    user = optimizer_messages(task, opset, Round(0, None, "async def solve(problem, ops):\n    return problem", True, 0.5))[-1]["content"]
    assert user.count("Operators (call as") == 1
    assert user.startswith("\n\n".join(WORKFLOW.task_lines(task.description, task.answer_format, opset)))
    assert "Current workflow (score 0.500 on gsm8k)" in user
