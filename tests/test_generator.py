"""Generator: best-of-N selection (validate only, never test), new operator sets as data, and the
generate -> run round trip with the real embedded model."""
import json
import math

import pytest
import yaml

from fakes import FakeLLM
from flowforge.errors import UserError
from flowforge.generator import default_generator_spec
from flowforge.generator.generate import generate_workflow, sample_workflows, workflow_header
from flowforge.generator.prompt import WORKFLOW
from flowforge.operators import load_operator_set
from flowforge.tasks import get_task
from flowforge.workflow.runtime import run_workflow_on_instances

GOOD = "```python\nasync def solve(problem, ops):\n    return await ops.calculate(expression=problem)\n```"
BAD = "```python\nasync def solve(problem, ops):\n    return problem\n```"
INVALID = "```python\nimport os\nasync def solve(problem, ops):\n    return os.name\n```"


@pytest.fixture
def arith_task(tmp_path):
    """A user task (YAML + JSONL) whose problems are expressions; `calculate` solves it exactly."""
    for split, rows in {"validate": [("2+3", "5"), ("4*5", "20"), ("9-7", "2")], "test": [("1+1", "2")]}.items():
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps({"q": q, "a": a}) + "\n" for q, a in rows))
    spec = {"name": "exprs", "domain": "math", "description": "Arithmetic expressions to evaluate.",
            "answer_format": "a number", "scorer": "last_number",
            "fields": {"problem": "q", "reference": "a"},
            "splits": {"validate": "validate.jsonl", "test": "test.jsonl"}, "train_splits": ["validate"]}
    (tmp_path / "exprs.yaml").write_text(yaml.safe_dump(spec))
    return get_task(str(tmp_path / "exprs.yaml"))


async def test_best_of_n_selects_on_validate_and_never_loads_test(arith_task, monkeypatch):
    loaded = []
    real_load = arith_task.load
    monkeypatch.setattr(arith_task, "load", lambda split, **kw: loaded.append(split) or real_load(split, **kw))
    opset = load_operator_set("default")
    gen = await generate_workflow(arith_task, opset, FakeLLM([BAD, INVALID, GOOD]), samples=3,
                                  select_on="validate", executor=FakeLLM(lambda m: "unused"))
    assert gen.selection_scores[0] == 0.0 and gen.selection_scores[1] is None and gen.selection_scores[2] == 1.0
    assert "ops.calculate" in gen.selected.source
    assert gen.selection.startswith("best-of-3 (validation-selected on validate")
    assert "best-of-3 (validation-selected" in workflow_header(arith_task, opset, "fake", gen)
    assert set(loaded) == {"validate"}


async def test_invalid_greedy_sample_is_resampled_in_one_batched_call(arith_task):
    opset = load_operator_set("default")
    llm = FakeLLM([INVALID, INVALID, GOOD, BAD])
    gen = await generate_workflow(arith_task, opset, llm, attempts=4)
    assert [c["n"] for c in llm.calls] == [1, 3]
    assert llm.calls[0]["temperature"] == 0.0 and llm.calls[1]["temperature"] > 0
    assert gen.selected.valid and "ops.calculate" in gen.selected.source  # the first valid, not the last
    assert gen.selection.startswith("greedy sample invalid; attempt 3 of 4")
    assert gen.usage.calls == 2


async def test_operator_calls_are_constrained_on_backends_that_can(arith_task):
    from flowforge.generator.typed_args import TypedOpsConstraint

    opset = load_operator_set("default")
    llm = FakeLLM([INVALID, GOOD], supports_constraints=True)
    gen = await generate_workflow(arith_task, opset, llm, attempts=2)
    bound = opset.for_task(arith_task)  # only the operators the task can serve
    assert [c["constraint"] for c in llm.calls] == [TypedOpsConstraint.for_opset(bound)] * 2  # greedy and resample
    assert gen.constrained and "operator calls constrained" in workflow_header(arith_task, opset, "fake", gen)
    off = FakeLLM([GOOD], supports_constraints=True)
    gen = await generate_workflow(arith_task, opset, off, constrain=False)
    assert "constraint" not in off.calls[0] and not gen.constrained
    plain = FakeLLM([GOOD])  # a backend without the capability (e.g. HTTP) is never sent one
    assert not (await generate_workflow(arith_task, opset, plain)).constrained and "constraint" not in plain.calls[0]


async def test_valid_greedy_sample_is_not_resampled_and_attempts_can_be_off(arith_task):
    opset = load_operator_set("default")
    llm = FakeLLM([GOOD])
    gen = await generate_workflow(arith_task, opset, llm, attempts=4)
    assert len(llm.calls) == 1 and gen.selection == "single sample (greedy)"
    off = await generate_workflow(arith_task, opset, FakeLLM([INVALID]), attempts=1)
    assert not off.selected.valid and len(off.candidates) == 1
    none_valid = await generate_workflow(arith_task, opset, FakeLLM([INVALID] * 3), attempts=3)
    assert not none_valid.selected.valid and none_valid.selection == "no valid workflow in 3 attempts"
    with pytest.raises(UserError, match="--attempts"):
        await generate_workflow(arith_task, opset, FakeLLM([GOOD]), attempts=0)


async def test_best_of_n_refuses_test_and_missing_splits(arith_task):
    opset = load_operator_set("default")
    with pytest.raises(UserError, match="never uses test"):
        await generate_workflow(arith_task, opset, FakeLLM([GOOD, GOOD]), samples=2, select_on="test",
                                executor=FakeLLM(lambda m: ""))
    with pytest.raises(UserError, match="no 'validate' split"):
        await generate_workflow(get_task("hotpotqa"), opset, FakeLLM([GOOD, GOOD]), samples=2,
                                select_on="validate", executor=FakeLLM(lambda m: ""))


async def test_new_operator_set_supplied_only_as_data(tmp_path, arith_task):
    """A renamed and extended set written here: the prompt shows only its names, and a workflow
    written against it validates and runs, with no code change."""
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({
        "name": "mine", "extends": "default", "include": ["answer_generate", "calculate", "vote"],
        "rename": {"calculate": "compute_exactly", "answer_generate": "think"},
        "operators": [{"name": "double_check", "signature": 'double_check(problem, answer) -> {"ok", "reason"}',
                       "description": "Whether `answer` solves `problem`, with a reason.", "impl": "verify"}]}))
    opset = load_operator_set(str(tmp_path / "mine.yaml"))
    user = WORKFLOW.messages(arith_task.description, arith_task.answer_format, opset)[-1]["content"]
    assert "compute_exactly(" in user and "double_check(" in user and "think(" in user
    assert "calculate(" not in user and "answer_generate(" not in user
    renamed = GOOD.replace("calculate", "compute_exactly")
    gen = await sample_workflows(arith_task, opset, FakeLLM([renamed]))
    assert gen.candidates[0].valid, gen.candidates[0].error
    stale = await sample_workflows(arith_task, opset, FakeLLM([GOOD]))  # old name: rejected, with the rule
    assert not stale.candidates[0].valid and "unknown-operator" in stale.candidates[0].error
    summary = await run_workflow_on_instances(gen.candidates[0].source, arith_task, arith_task.load("validate"),
                                              executor=FakeLLM(lambda m: ""), opset=opset)
    assert summary.score == 1.0 and summary.n == 3


# Valid (the validator cannot know the divisor), but every run divides by zero in `calculate`.
CRASHES = "```python\nasync def solve(problem, ops):\n    return await ops.calculate(expression=problem + '/0')\n```"


async def test_smoke_run_turns_a_run_time_crash_into_a_resample(arith_task, monkeypatch):
    """The greedy workflow passes the validator but crashes when run: the smoke run (inputs only,
    unscored) marks it invalid, and resampling delivers one that runs."""
    monkeypatch.setattr(arith_task, "score", lambda *a: pytest.fail("a smoke run must not score"))
    opset = load_operator_set("default")
    assert (await sample_workflows(arith_task, opset, FakeLLM([CRASHES]))).candidates[0].valid
    llm = FakeLLM([CRASHES, CRASHES, GOOD, BAD])
    gen = await generate_workflow(arith_task, opset, llm, attempts=4, executor=FakeLLM(lambda m: "unused"))
    greedy, again, chosen = gen.candidates[:3]
    assert not greedy.valid and greedy.error.startswith("smoke run crashed on validate problem validate-0: ")
    assert "division by zero" in greedy.error
    assert not again.valid and gen.selected is chosen and "ops.calculate(expression=problem)" in chosen.source
    assert len(gen.smoke) == 2  # the repeated crashing source ran once; BAD was never needed
    result = gen.smoke_result
    assert (result.split, result.total, result.clean, result.passed) == ("validate", 3, 3, True)
    assert "# smoke run: 3 of 3 validate problems ran without error" in workflow_header(arith_task, opset, "f", gen)
    assert gen.selection.startswith("greedy sample invalid; attempt 3 of 4")


async def test_smoke_run_can_be_off(arith_task):
    opset = load_operator_set("default")
    off = await generate_workflow(arith_task, opset, FakeLLM([CRASHES]), executor=FakeLLM(lambda m: ""), smoke=False)
    assert off.selected.valid and off.smoke == {} and "smoke run" not in workflow_header(arith_task, opset, "f", off)
    none_runs = await generate_workflow(arith_task, opset, FakeLLM([CRASHES] * 3), attempts=3,
                                        executor=FakeLLM(lambda m: ""))
    assert not none_runs.selected.valid and none_runs.selection == "no valid workflow in 3 attempts"
    assert "# INVALID: smoke run crashed" in workflow_header(arith_task, opset, "f", none_runs)


async def test_best_of_n_never_selects_a_crashing_candidate(arith_task):
    opset = load_operator_set("default")
    gen = await generate_workflow(arith_task, opset, FakeLLM([CRASHES, BAD]), samples=2, select_on="validate",
                                  executor=FakeLLM(lambda m: ""))
    assert gen.selection_scores == [None, 0.0] and gen.selected.source.endswith("return problem\n")


async def test_prompt_lists_only_operators_the_task_can_serve(arith_task):
    llm = FakeLLM([GOOD])
    await sample_workflows(arith_task, load_operator_set("default"), llm)
    prompt = llm.calls[0]["messages"][-1]["content"]
    assert "calculate(" in prompt and "retrieve(" not in prompt and "run_tests(" not in prompt
    uses_tests = GOOD.replace("return await ops.calculate(expression=problem)",
                              "r = await ops.run_tests(solution=problem)\n    return r['feedback']")
    gen = await sample_workflows(arith_task, load_operator_set("default"), FakeLLM([uses_tests]))
    assert not gen.candidates[0].valid and "[unavailable]" in gen.candidates[0].error


@pytest.mark.model
async def test_generate_then_run_round_trip_with_embedded_model(tmp_path):
    """The shipped generator delivers a valid workflow for a training family (greedy, or a
    resample when the greedy one is invalid); it then runs."""
    from flowforge.llm import load_llm

    task, opset = get_task("synth/passage_qa"), load_operator_set("default")
    gen = await generate_workflow(task, opset, load_llm(default_generator_spec(), cache=tmp_path / "c.sqlite"))
    assert gen.usage.calls in (1, 2) and gen.usage.completion_tokens > 0  # greedy [+ one batched resample]
    assert gen.selected.valid, f"{default_generator_spec()} wrote an invalid workflow: {gen.selected.error}"
    summary = await run_workflow_on_instances(
        gen.selected.source, task, task.load("validate", limit=2), executor=load_llm("embedded", cache=tmp_path / "c.sqlite"),
        opset=opset, out_dir=tmp_path / "run", max_tokens=16)
    assert summary.n == 2 and not math.isnan(summary.score)
    lines = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2
