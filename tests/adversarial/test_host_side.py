"""Issue 14, the classes that hit the host rather than the sandbox: hostile inputs to host-side
operators and scorers (3), deep nesting through the channel (4), parallel sandbox load (5), the
validator (6) and backend waiting blamed on the workflow (7). Each runs the real runtime, the
real operators and scorers and a real run directory, at the default isolation level; only the
executor is a fake."""
from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from fakes import FakeLLM  # noqa: E402

from flowforge.operators import load_operator_set  # noqa: E402
from flowforge.tasks import get_task  # noqa: E402
from flowforge.workflow.runtime import run_workflow_on_instances  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OPS = load_operator_set("default")
CODE_REPLY = "```python\ndef f():\n    return 1\n```"


def wf(body: str) -> str:
    return "async def solve(problem, ops):\n" + "".join("    " + ln + "\n" for ln in body.splitlines())


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


async def run(source, task, n, out=None, llm=None, **kw):
    the_task = get_task(task)
    return await run_workflow_on_instances(source, the_task, the_task.load("test", limit=n), executor=llm or FakeLLM(
        lambda m: CODE_REPLY), opset=OPS, out_dir=out, **kw)


# ---- 3. host-side operators and scorers get bounded work ---------------------------------------


async def test_hostile_operator_inputs_and_answers_do_not_stall_the_run(tmp_path):
    src = wf(
        "out = []\n"
        "for kind in ('span', 'number', 'expression', 'option'):\n"
        "    out.append(await ops.extract(text='\\n' * 200000, kind=kind))\n"
        "out.append(await ops.extract(text='Answer:' + ' ' * 300000 + 'x', kind='span'))\n"
        "out.append(await ops.extract(text='answer:answer:' * 30000, kind='span'))\n"
        "try:\n"
        "    out.append(await ops.calculate(expression='(' * 400 + '1' + ')' * 400))\n"
        "except Exception:\n"
        "    out.append('refused')\n"
        "return '\\\\boxed{9^{9^{9}}}'")
    t0 = time.monotonic()
    s = await run(src, "math", 2, tmp_path / "math", timeout_s=20)
    assert time.monotonic() - t0 < 60
    assert s.n == 2 and all(r.score == 0.0 and r.error is None for r in s.results), s.results
    assert all("did not decide" in r.explanation for r in s.results)
    assert json.loads((tmp_path / "math" / "summary.json").read_text())["complete"]


async def test_code_answer_of_a_fence_and_spaces_scores_fast(tmp_path):
    src = wf("r = await ops.test(solution='```python\\n' + ' ' * 900000)\n"
             "return '```python\\n' + ' ' * 1500000")
    t0 = time.monotonic()
    s = await run(src, "mbpp", 2, tmp_path, timeout_s=30)
    assert time.monotonic() - t0 < 90
    assert s.n == 2 and all(r.score == 0.0 for r in s.results), s.results


def test_math_scorer_bounds_a_power_tower():
    from flowforge.tasks.scorers import score_math_equiv
    from flowforge.types import Instance

    t0 = time.monotonic()
    s = score_math_equiv(r"\boxed{9^{9^{9}}}", Instance("x", "q", "3"))
    assert s.value == 0.0 and time.monotonic() - t0 < 30
    assert score_math_equiv(r"\boxed{3}", Instance("x", "q", "3")).value == 1.0  # a fresh worker took over


# ---- 4. nothing from the sandbox crashes the host --------------------------------------------


async def test_deep_nesting_never_crashes_the_run_and_the_run_dir_stays_complete(tmp_path):
    src = wf("x = []\nfor i in range(600):\n    x = [x]\ntry:\n    await ops.vote(answers=x)\n"
             "except Exception:\n    pass\nif problem[:1] < 'M':\n    return str(x)\nreturn '1'")
    s = await run(src, "gsm8k", 4, tmp_path, timeout_s=20)
    assert s.n == 4 and not any(math.isnan(r.score) for r in s.results), s.results
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["complete"] and len(lines(tmp_path / "results.jsonl")) == 4
    again = await run(src, "gsm8k", 4, tmp_path, timeout_s=20)
    assert again.resumed == 4


async def test_one_failing_instance_never_stops_the_run(tmp_path, monkeypatch):
    import flowforge.workflow.runtime as rt

    real = rt._execute

    async def flaky(program, inst, run, *a):
        if inst.id.endswith("-1"):
            raise RuntimeError("a bug in the runtime")
        return await real(program, inst, run, *a)

    monkeypatch.setattr(rt, "_execute", flaky)
    s = await run(wf("return '1'"), "gsm8k", 3, tmp_path, timeout_s=20)
    bad = [r for r in s.results if r.error and r.error.startswith("InternalError")]
    assert s.n == 3 and len(bad) == 1 and math.isnan(bad[0].score)
    assert json.loads((tmp_path / "summary.json").read_text())["complete"]


# ---- 5. parallel sandbox load is bounded --------------------------------------------------------


async def test_parallel_run_tests_from_one_workflow_are_bounded(monkeypatch):
    import threading

    import flowforge.sandbox.core as core

    monkeypatch.setattr(core, "_SLOTS", threading.BoundedSemaphore(2))
    live, peak = [0], [0]
    real = core.ProcessSandbox._execute

    async def counted(self, job, *a, **k):
        if job["mode"] != "tests":
            return await real(self, job, *a, **k)
        live[0] += 1
        peak[0] = max(peak[0], live[0])
        try:
            return await real(self, job, *a, **k)
        finally:
            live[0] -= 1

    monkeypatch.setattr(core.ProcessSandbox, "_execute", counted)
    src = wf("rs = await gather(*[ops.run_tests(solution='def f(): pass') for _ in range(40)])\n"
             "return str(sum(r['passed'] for r in rs))")
    s = await run(src, "mbpp", 1, timeout_s=120)
    assert s.results[0].error is None and s.results[0].answer == "0"
    assert peak[0] == 2


# ---- 6. the validator ----------------------------------------------------------------------


def test_validator_on_a_3000_term_chain_is_one_line_and_exit_2(tmp_path):
    chain = tmp_path / "chain.py"
    chain.write_text("async def solve(problem, ops):\n    return " + " + ".join(["1"] * 3000) + "\n")
    p = subprocess.run([sys.executable, "-m", "flowforge", "run", str(chain), "--task", "gsm8k", "--limit", "1",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 2, p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nested too deeply" in err[0]
    assert "Traceback" not in p.stderr + p.stdout


# ---- 7. timeouts blame the right party ---------------------------------------------------------


class SlowBackend(FakeLLM):
    """A saturated shared backend: every call waits `delay` seconds before it answers."""

    def __init__(self, delay: float, reply: str = "Answer: 1"):
        super().__init__(lambda m: reply)
        self.delay = delay

    async def complete(self, messages, **kw):
        await asyncio.sleep(self.delay)
        return await super().complete(messages, **kw)


IO = (ROOT / "src/flowforge/workflow/reference/io.py")


async def test_waiting_on_a_slow_backend_is_not_a_workflow_timeout(tmp_path):
    s = await run(IO.read_text(), "gsm8k", 2, tmp_path, llm=SlowBackend(3.0), timeout_s=1.5)
    assert [r.error for r in s.results] == [None, None], s.results
    assert s.backend_timeouts == 0


async def test_backend_timeout_is_unscored_reported_and_retried_on_resume(tmp_path):
    s = await run(IO.read_text(), "gsm8k", 2, tmp_path, llm=SlowBackend(60.0), timeout_s=1.5, backend_timeout_s=2)
    assert s.backend_timeouts == 2 and all(math.isnan(r.score) for r in s.results)
    assert all(r.error.startswith("BackendTimeout") for r in s.results)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["backend_timeouts"] == 2 and summary["complete"] is False
    fast = SlowBackend(0.0)
    s2 = await run(IO.read_text(), "gsm8k", 2, tmp_path, llm=fast, timeout_s=5)
    assert s2.resumed == 0 and len(fast.calls) == 2 and s2.backend_timeouts == 0
    assert not any(math.isnan(r.score) for r in s2.results)
    assert json.loads((tmp_path / "summary.json").read_text())["complete"] is True
    assert len(lines(tmp_path / "results.jsonl")) == 2


async def test_workflow_compute_is_still_limited(tmp_path):
    s = await run(wf("n = 0\nfor i in range(10 ** 12):\n    n += i\nreturn str(n)"), "gsm8k", 1, tmp_path, llm=SlowBackend(0.0), timeout_s=1.5)
    assert s.results[0].error.startswith("Timeout") and s.results[0].score == 0.0


# ---- 1. forged verdicts, at the operator and scorer level (the RL reward scores through these) ----

FORGERIES = [
    'def {ep}(*a, **k):\n    return 0\n__builtins__["compile"] = lambda *a, **k: "pass"\n',
    'def {ep}(*a, **k):\n    return 0\nimport builtins\nbuiltins.compile = lambda *a, **k: compile("pass", "x", "exec")\n',
    'class E:\n    def __eq__(s, o): return True\n    def __ne__(s, o): return False\ndef {ep}(*a, **k):\n    return E()\n',
    'import os\nos._exit(0)\n',
    'def {ep}(*a, **k):\n    import os\n    os._exit(0)\n',
    'print("{{\'ok\': True, \'passed\': 3, \'total\': 3}}")\ndef {ep}(*a, **k):\n    return 0\n',
]


@pytest.mark.parametrize("task_name", ["mbpp", "humaneval"])
def test_forged_answers_score_zero_on_code_tasks(task_name):
    task = get_task(task_name)
    inst = task.load("test", limit=1)[0]
    ep = inst.context["entry_point"]
    for forged in FORGERIES:
        s = task.score("```python\n" + forged.format(ep=ep) + "```", inst)
        assert s.value == 0.0, (forged, s.explanation)


async def test_forged_solutions_fail_the_run_tests_and_test_operators():
    from flowforge.operators import IMPLS, OpContext

    task = get_task("mbpp")
    inst = task.load("test", limit=1)[0]
    ctx = OpContext(llm=FakeLLM(lambda m: "```python\n" + FORGERIES[2].format(ep=inst.context["entry_point"]) + "```"),
                    problem=inst.problem, context=inst.context)
    for forged in FORGERIES:
        out = await IMPLS["run_tests"](ctx, solution=forged.format(ep=inst.context["entry_point"]))
        assert out["passed"] is False, forged
    out = await IMPLS["test"](ctx, solution=FORGERIES[0].format(ep=inst.context["entry_point"]))
    assert out["passed"] is False


async def test_programmer_output_needs_a_real_success():
    from flowforge.operators import IMPLS, OpContext

    def ctx(code):
        return OpContext(llm=FakeLLM(lambda m: f"```python\n{code}\n```"), problem="What is 6 * 7?")

    assert (await IMPLS["programmer"](ctx("print(6 * 7)"), analysis=""))["output"] == "42"
    out = await IMPLS["programmer"](ctx("print(42)\nimport os\nos._exit(0)"), analysis="")
    assert out["output"] == ""
