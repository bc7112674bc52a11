"""The Python API (`import flowforge as ff`): the CLI's verbs over the same objects. Models are
fakes here (plumbing); the real embedded model runs in tests/test_example_unit_convert.py."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import flowforge as ff
from fakes import FakeLLM
from flowforge.errors import UserError
from test_search import IO_VARIANT

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "unit_convert"
SPEC, OPS = str(EXAMPLE / "spec.yaml"), str(EXAMPLE / "operators.yaml")


def _no_llm(messages):
    raise AssertionError("this workflow must not call the executor")


def test_api_loads_the_objects_the_cli_uses():
    from flowforge.operators import OperatorSet, load_operator_set
    from flowforge.tasks import Task, get_task

    task, ops = ff.load_task(SPEC), ff.load_operators(OPS)
    assert isinstance(task, Task) and isinstance(ops, OperatorSet)
    assert (task.name, task.splits, task.heldout, task.tuning_split) == ("unit_convert", {"validate": 20, "test": 40},
                                                                          True, "validate")
    assert ops.names == load_operator_set(OPS).names and ops.names[-1] == "convert_units"
    assert ff.load_task("gsm8k").splits == get_task("gsm8k").splits
    assert ff.reference_workflow("io").startswith("async def solve(problem, ops):")
    assert sorted(ff.__all__) == sorted(set(ff.__all__)) and "search_workflow" in ff.__all__
    with pytest.raises(AttributeError):
        ff.no_such_verb  # noqa: B018


def test_api_run_takes_a_file_a_name_or_source(tmp_path):
    s = ff.run(EXAMPLE / "convert.py", SPEC, OPS, limit=6, executor=FakeLLM(_no_llm), out_dir=tmp_path / "a")
    assert (s.n, s.score, s.errors, s.usage.calls) == (6, 1.0, 0, 0)
    assert len((tmp_path / "a" / "results.jsonl").read_text().splitlines()) == 6
    exe = FakeLLM(lambda m: "Thought.\nAnswer: 12", "fake-exec")
    s = ff.run("io", "gsm8k", split="validate", limit=2, executor=exe)  # a reference workflow by name
    assert s.n == 2 and s.usage.calls == 2 and len(exe.calls) == 2
    src = "async def solve(problem, ops):\n    return await ops.convert_units(text=problem)\n"
    assert ff.run(src, ff.load_task(SPEC), ff.load_operators(OPS), limit=3, executor=FakeLLM(_no_llm)).score == 1.0
    with pytest.raises(UserError, match="unknown reference workflow 'nope'"):
        ff.run("nope", "gsm8k", limit=1, executor=exe)


def test_api_generate_evaluate_and_search_with_fakes(tmp_path):
    gen = ff.generate(SPEC, OPS, generator=FakeLLM(lambda m: IO_VARIANT, "fake-gen"), smoke=False)
    assert gen.selected.valid and "ops.answer_generate" in gen.selected.source

    llms = {"fake-exec": FakeLLM(lambda m: "Answer: 254", "fake-exec"),
            "fake-gen": FakeLLM(lambda m: IO_VARIANT, "fake-gen"),
            "fake-opt": FakeLLM(lambda m: IO_VARIANT, "fake-opt")}
    cells = ff.evaluate("io,generator:fake-gen,search:fake-opt,generator_bo2:fake-gen", tasks=[SPEC],
                        executor="fake-exec", limit=4, out_dir=tmp_path / "eval", load=llms.__getitem__,
                        search_rounds=1, search_limit=2, select_limit=2)
    by = {c.method: c for c in cells}
    assert {c.task for c in cells} == {"unit_convert"} and all(c.status == "ok" for c in cells), \
        [c.reason for c in cells]
    assert all(c.n == 4 for c in cells) and by["io"].obtain_usage["calls"] == 0
    assert "on validate" in by["search:fake-opt"].label and "validate" in by["generator_bo2:fake-gen"].label
    table = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert table["meta"]["tasks"] == SPEC and len(table["cells"]) == 4
    assert (tmp_path / "eval" / "eval.md").read_text().startswith(f"## flowforge eval: {SPEC}\n")

    res = ff.search_workflow(SPEC, OPS, rounds=1, optimizer=llms["fake-opt"], executor=llms["fake-exec"],
                             out_dir=tmp_path / "search", val_limit=2)
    assert res.rounds == 1 and (tmp_path / "search" / "best.py").exists()


def test_api_best_of_n_and_search_need_a_tuning_split(tmp_path):
    """A test-only user task: both methods refuse in one line, the fixed baseline still runs."""
    (tmp_path / "d.jsonl").write_text(open(EXAMPLE / "test.jsonl").read())
    spec = tmp_path / "t.yaml"
    spec.write_text((EXAMPLE / "spec.yaml").read_text().replace("  validate: validate.jsonl\n", "")
                    .replace("test.jsonl", "d.jsonl"))
    llms = {"x": FakeLLM(lambda m: IO_VARIANT, "x")}
    cells = ff.evaluate("io,search:x,generator_bo2:x", tasks=[str(spec)], executor="x", limit=2,
                        out_dir=tmp_path / "eval", load=llms.__getitem__, search_rounds=1)
    by = {c.method: c for c in cells}
    assert by["io"].status == "ok"
    assert by["search:x"].status == "failed" and "no validate/train split" in by["search:x"].reason
    assert by["generator_bo2:x"].status == "failed" and "selects on a validate or train split" in by["generator_bo2:x"].reason
    assert all("\n" not in c.reason for c in cells)


@pytest.mark.integration
def test_api_train_sft_is_the_cli_trainer(tmp_path, tiny_model):
    from test_training_sft import WORKFLOW, _data

    from flowforge.training.config import SFTRunConfig

    assert ff.SFTRunConfig is SFTRunConfig and ff.RLRunConfig.__name__ == "RLRunConfig"
    base = tiny_model([WORKFLOW, "Task: add numbers. Operators: calculate(expression) You write workflows."] * 20)
    summary = ff.train_sft(ff.SFTRunConfig(data=_data(tmp_path / "sft.jsonl"), out_dir=tmp_path / "run",
                                           base_model=str(base), max_steps=1, batch_size=2, lora_r=4,
                                           lora_alpha=8, progress=False))
    assert summary["stage"] == "sft" and summary["steps"] == 1
    assert (tmp_path / "run" / "final" / "adapter_config.json").exists()
    assert json.loads((tmp_path / "run" / "ranks" / "rank-0.json").read_text())["world_size"] == 1
