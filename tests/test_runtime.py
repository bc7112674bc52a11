"""Runtime: concurrent execution in the sandbox, error isolation, scoring, run-dir format and
resume (including a torn last line). Uses FakeLLM and a tiny in-test task."""
import asyncio
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes import FakeLLM
from flowforge.errors import BackendError, WorkflowError
from flowforge.operators import load_operator_set
from flowforge.types import Instance, Score
from flowforge.workflow.reference import REFERENCE_DIR
from flowforge.workflow.runtime import run_workflow_on_instances

OPS = load_operator_set("default")
ROOT = Path(__file__).parent.parent


@dataclass
class ExactTask:
    name: str = "exact"
    provides: frozenset = frozenset()  # no instance context: operators that need some are unavailable

    def score(self, answer, instance):
        return Score(float(answer.strip() == instance.reference), answer=answer)


def instances(n):
    return [Instance(id=f"i{k}", problem=f"{k} + {k}", reference=str(2 * k),
                     context={"answer_format": "a number", "domain": "math"}) for k in range(n)]


def adder(messages):  # a "model" that answers sums correctly, except for 3 + 3
    text = messages[0]["content"]
    a = int(text.split(" + ")[0].split()[-1])
    return f"Easy.\nAnswer: {a + a if a != 3 else 7}"


async def run(source, n, tmp_path=None, llm=None, **kw):
    llm = llm or FakeLLM(adder)
    summary = await run_workflow_on_instances(source, ExactTask(), instances(n), executor=llm, opset=OPS,
                                              out_dir=tmp_path, **kw)
    return summary, llm


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


async def test_io_workflow_scores_and_writes_run_dir(tmp_path):
    src = (REFERENCE_DIR / "io.py").read_text()
    s, llm = await run(src, 4, tmp_path)
    assert (s.n, s.errors, s.score) == (4, 0, 0.75)  # 3 + 3 is answered 7
    assert s.usage.calls == 4 and len(llm.calls) == 4
    res = lines(tmp_path / "results.jsonl")
    assert sorted(r["id"] for r in res) == ["i0", "i1", "i2", "i3"]
    assert set(res[0]) >= {"id", "answer", "score", "error", "usage", "seconds"}
    assert {r["id"]: r["answer"] for r in res}["i2"] == "4"
    traces = lines(tmp_path / "traces.jsonl")
    assert len(traces) == 4 and traces[0]["operator"] == "answer_generate"
    assert set(traces[0]) >= {"instance_id", "operator", "inputs", "output", "usage", "seconds", "error"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["score"] == 0.75 and summary["n"] == 4 and summary["task"] == "exact"
    assert summary["executor"] == "fake" and len(summary["workflow_sha"]) == 16 and summary["complete"]
    assert (tmp_path / "workflow.py").read_text() == src


async def test_resume_runs_only_new_instances(tmp_path):
    src = (REFERENCE_DIR / "io.py").read_text()
    s1, llm1 = await run(src, 3, tmp_path)
    assert len(llm1.calls) == 3
    s2, llm2 = await run(src, 6, tmp_path)
    assert len(llm2.calls) == 3 and s2.resumed == 3 and s2.n == 6
    assert len(lines(tmp_path / "results.jsonl")) == 6 and len(lines(tmp_path / "traces.jsonl")) == 6
    s3, llm3 = await run(src, 6, tmp_path)
    assert len(llm3.calls) == 0 and s3.score == s2.score


async def test_resume_after_torn_line_and_orphan_traces(tmp_path):
    src = (REFERENCE_DIR / "io.py").read_text()
    await run(src, 3, tmp_path)
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write('{"id": "i3", "answ')  # killed mid-write
    with open(tmp_path / "traces.jsonl", "a") as f:
        f.write(json.dumps({"instance_id": "i3", "operator": "answer_generate"}) + "\n")
    s, llm = await run(src, 4, tmp_path)
    assert len(llm.calls) == 1 and s.n == 4
    res = lines(tmp_path / "results.jsonl")  # every line parses
    assert [r["id"] for r in res].count("i3") == 1
    assert [t["instance_id"] for t in lines(tmp_path / "traces.jsonl")].count("i3") == 1


async def test_rundir_of_another_workflow_is_refused(tmp_path):
    await run((REFERENCE_DIR / "io.py").read_text(), 1, tmp_path)
    with pytest.raises(Exception, match="different run"):
        await run((REFERENCE_DIR / "cot.py").read_text(), 1, tmp_path)


async def test_operator_error_is_isolated_and_catchable(tmp_path):
    crashing = ("async def solve(problem, ops):\n"
                "    if problem.startswith('2'):\n"
                "        return await ops.calculate(expression='__import__(1)')\n"
                "    return await ops.calculate(expression=problem)\n")
    s, _ = await run(crashing, 4, tmp_path)
    assert s.n == 4 and s.errors == 1 and s.score == 0.75
    bad = next(r for r in s.results if r.instance_id == "i2")
    assert bad.score == 0.0 and "OperatorError" in bad.error and "calculate" in bad.error
    traces = lines(tmp_path / "traces.jsonl")
    assert any(t["instance_id"] == "i2" and t["error"] for t in traces)
    catching = ("async def solve(problem, ops):\n"
                "    try:\n"
                "        return await ops.calculate(expression=problem + ' +')\n"
                "    except Exception as e:\n"
                "        return 'caught ' + str(e)[:40]\n")
    s, _ = await run(catching, 2)
    assert s.errors == 0 and all(r.answer.startswith("caught OperatorError: calculate") for r in s.results)


async def test_gather_and_repeat_sampling(tmp_path):
    src = (REFERENCE_DIR / "cot_sc.py").read_text()
    s, llm = await run(src, 2, tmp_path)
    assert s.score == 1.0 and s.usage.calls == 10
    temps = sorted(c["temperature"] for c in llm.calls)
    assert temps.count(0.0) == 2 and temps.count(0.8) == 8  # first call greedy, repeats sample
    assert len({(c["messages"][0]["content"], c["seed"]) for c in llm.calls}) == 10


async def test_workflow_crash_and_timeout_score_zero():
    s, _ = await run("async def solve(problem, ops):\n    return [1][5]\n", 1)
    assert s.errors == 1 and s.results[0].error.startswith("IndexError") and s.results[0].score == 0.0
    slow = "async def solve(problem, ops):\n    n = 0\n    while n >= 0:\n        n += 1\n    return n\n"
    s, _ = await run(slow, 1, timeout_s=1.0)
    assert s.errors == 1 and "Timeout" in s.results[0].error and s.results[0].score == 0.0


async def test_busy_default_executor_does_not_stall_workflows_or_scoring():
    """Slow work in asyncio's default executor (as code scorers once were) must not delay a
    workflow's start, its operator replies or its scoring: they have threads of their own."""
    import threading

    release = threading.Event()
    loop = asyncio.get_running_loop()
    hogs = [loop.run_in_executor(None, release.wait, 12) for _ in range(16)]  # every default thread, and a queue
    try:
        source = "async def solve(problem, ops):\n    return await ops.calculate(expression=problem)\n"
        s, _ = await run(source, 4, timeout_s=8.0)
        assert s.errors == 0 and s.score == 1.0  # within 8 s each, while the hogs hold for 12 s
    finally:
        release.set()
        await asyncio.gather(*hogs)


async def test_backend_failure_is_unscored_not_zero():
    def broken(messages):
        raise BackendError("endpoint down")
    s, _ = await run((REFERENCE_DIR / "io.py").read_text(), 2, llm=FakeLLM(broken))
    assert s.errors == 2 and all(math.isnan(r.score) for r in s.results) and math.isnan(s.score)
    assert "BackendError: endpoint down" in s.results[0].error


async def test_invalid_workflow_runs_nothing(tmp_path):
    llm = FakeLLM([])
    with pytest.raises(WorkflowError) as e:
        await run("import os\nasync def solve(problem, ops):\n    return 1\n", 2, tmp_path / "run", llm=llm)
    assert e.value.rule == "import" and not (tmp_path / "run").exists() and not llm.calls


async def test_concurrency_overlaps_instances():
    active, peak = 0, 0

    class SlowLLM(FakeLLM):
        async def complete(self, messages, **kw):
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            for _ in range(100):  # hold the call until 3 overlap (or 5 s pass: then peak stays < 3)
                if peak >= 3:
                    break
                await asyncio.sleep(0.05)
            active -= 1
            return await super().complete(messages, **kw)

    s, _ = await run((REFERENCE_DIR / "io.py").read_text(), 6, llm=SlowLLM(adder), concurrency=3)
    assert peak == 3 and s.n == 6
