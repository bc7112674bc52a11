"""benchmarks/sft_fit.py's plumbing: which operator calls a completion makes, and the task spread."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from sft_fit import operator_calls, spread  # noqa: E402


def test_operator_calls_in_source_order_from_a_fenced_completion():
    text = ("```python\nasync def solve(problem, ops):\n"
            "    best = await ops.best_match(query=problem, items=await ops.retrieve(query=problem, k=3))\n"
            "    return await ops.novel_words(text=best, question=problem)\n```")
    assert operator_calls(text) == ["best_match", "retrieve", "novel_words"]
    assert operator_calls("async def solve(problem, ops):\n    return problem\n") == []
    assert operator_calls("```python\nasync def solve(problem, ops:\n```") is None


def test_spread_takes_tasks_in_turn():
    rows = [{"meta": {"task": t}, "i": i} for i, t in enumerate("aaaabbc")]
    assert [(r["meta"]["task"], r["i"]) for r in spread(rows, 5)] == [("a", 0), ("b", 4), ("c", 6), ("a", 1), ("b", 5)]
    assert len(spread(rows, 50)) == 7
