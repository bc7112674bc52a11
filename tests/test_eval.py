"""`flowforge eval` plumbing with fake backends: table values, cost columns, failed cells,
resume, and bad input as one line + exit 2. The real embedded run is marked slow."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowforge.errors import UserError
from flowforge.generator import default_generator_spec
from flowforge.evaluation.methods import parse_methods
from flowforge.evaluation.run import run_eval
from flowforge.evaluation.suites import SUITES, suite_cells
from flowforge.evaluation.tables import to_markdown
from fakes import FakeLLM
from test_search import IO_VARIANT


def test_suites_follow_the_protocol():
    assert len(SUITES["in-domain"]) == 4 + 12 and len(SUITES["held-out"]) == 2 + 7
    assert {c.operators for c in SUITES["new-operators"]} == {"novel"}
    assert {c.task for c in SUITES["new-operators"]} == {c.task for c in SUITES["held-out"]}
    assert not {c.task for c in SUITES["in-domain"]} & {c.task for c in SUITES["held-out"]}
    assert len(SUITES["all"]) == 16 + 9 + 9


def test_parse_methods_and_errors():
    ms = parse_methods("io,cot,search,generator,generator:hf:/ckpt+adapter:/a,generator_bo4:embedded")
    assert [m.kind for m in ms] == ["fixed", "fixed", "search", "generator", "generator", "generator"]
    assert ms[3].spec == default_generator_spec() and ms[4].spec == "hf:/ckpt+adapter:/a"
    assert ms[5].samples == 4 and ms[5].spec == "embedded"
    for bad, msg in [("io,magic", "unknown method 'magic'"), ("io,io", "twice"), ("", "empty"),
                     ("generator_bo1", "N >= 2")]:
        with pytest.raises(UserError, match=msg):
            parse_methods(bad)
    with pytest.raises(UserError, match="unknown suite"):
        suite_cells("everything")
    assert suite_cells(None) == list(SUITES["held-out"])  # the default table


def test_a_workflow_file_is_a_fixed_method(tmp_path):
    from flowforge.evaluation.methods import fixed_workflow
    from flowforge.operators import load_operator_set

    flow = tmp_path / "mine.py"
    flow.write_text("async def solve(problem, ops):\n    return await ops.calculate(expression=problem)\n")
    (m,) = parse_methods(str(flow))
    assert m.kind == "fixed" and m.name == str(flow)
    got = fixed_workflow(m.name, load_operator_set("default"))
    assert "ops.calculate" in got.source and got.label == "fixed (mine.py)"
    with pytest.raises(UserError, match="does not exist"):
        parse_methods(str(tmp_path / "missing.py"))
    flow.write_text("async def solve(problem, ops):\n    return await ops.teleport(x=problem)\n")
    with pytest.raises(UserError, match="teleport"):
        fixed_workflow(m.name, load_operator_set("default"))


def test_eval_cells_from_tasks_names_and_spec_paths(tmp_path):
    from flowforge.errors import DataError
    from flowforge.evaluation.suites import Cell

    spec = str(Path(__file__).resolve().parents[1] / "examples" / "unit_convert" / "spec.yaml")
    assert suite_cells(None, ["gsm8k", spec]) == [Cell("gsm8k", "default"), Cell(spec, "default")]
    # with a suite: a task it holds keeps its own cells, any other task gets the suite's sets
    assert suite_cells("held-out", ["hotpotqa", spec]) == [Cell("hotpotqa", "default"), Cell(spec, "default")]
    assert suite_cells("all", [spec]) == [Cell(spec, "default"), Cell(spec, "novel")]
    assert suite_cells("new-operators", ["gsm8k"], operators="qa") == [Cell("gsm8k", "qa")]
    with pytest.raises(DataError, match="not found"):
        suite_cells(None, [str(tmp_path / "missing.yaml")])
    with pytest.raises(DataError, match="unknown task 'gsm9k'"):
        suite_cells("held-out", ["gsm9k"])


def test_fixed_baseline_on_new_operators_falls_back_labelled():
    from flowforge.evaluation.methods import fixed_workflow
    from flowforge.operators import load_operator_set

    got = fixed_workflow("cot", load_operator_set("novel"))  # novel renames every default operator
    assert got.operators == "default" and "default operators" in got.label
    assert fixed_workflow("cot", load_operator_set("default")).operators == "default"


async def test_eval_end_to_end_with_fakes(tmp_path):
    from flowforge.tasks import get_task

    executor = FakeLLM(lambda m: "Some thought.\nAnswer: Yes", "fake-exec")
    generator = FakeLLM(lambda m: IO_VARIANT, "fake-gen")
    optimizer = FakeLLM(lambda m: IO_VARIANT, "fake-opt")
    llms = {"fake-exec": executor, "fake-gen": generator, "fake-opt": optimizer}
    methods = parse_methods("io,cot,search:fake-opt,generator:fake-gen")
    cells = suite_cells("in-domain", ["bbh/causal_judgement"]) + suite_cells("held-out", ["bbh/hyperbaton"])
    seen = []
    results = await run_eval(methods, cells, executor_spec="fake-exec", out_dir=tmp_path, limit=3,
                             search_rounds=1, search_limit=2, load=llms.__getitem__,
                             progress=lambda r, cached: seen.append(cached))
    by = {(r.method, r.task): r for r in results}
    assert len(results) == 8 and not any(seen)

    def frac(task: str, answer: str) -> float:
        refs = [str(i.reference).strip().lower() for i in get_task(task).load("test", limit=3)]
        return sum(r.strip("()") == answer.lower() for r in refs) / 3

    io = by[("io", "bbh/causal_judgement")]
    assert io.status == "ok" and io.n == 3 and io.score == pytest.approx(frac("bbh/causal_judgement", "yes"))
    assert io.obtain_usage["calls"] == 0 and io.obtain_usage["prompt_tokens"] == 0  # fixed baseline: free
    assert io.exec_calls_per_instance == 1.0  # io = one answer_generate call
    assert by[("cot", "bbh/causal_judgement")].exec_calls_per_instance == 2.0  # + format
    gen = by[("generator:fake-gen", "bbh/hyperbaton")]
    assert gen.status == "ok" and gen.obtain_usage["calls"] == 1 and "single sample" in gen.label
    # search: 1 optimizer call + executor runs on 2 train instances for seed (cot) and round 1
    srch = by[("search:fake-opt", "bbh/causal_judgement")]
    assert srch.status == "ok" and srch.obtain_usage["calls"] == 1 + 2 * 2 + 2 * 1
    # a held-out task has no non-test split: search fails for that cell only, with the reason
    bad = by[("search:fake-opt", "bbh/hyperbaton")]
    assert bad.status == "failed" and "no validate/train split" in bad.reason
    assert bad.cell_text().startswith("failed: UserError: task bbh/hyperbaton")
    # search ran on train only: its run dirs hold train ids, the test runs hold test ids
    hist = (tmp_path / "search" / "search_fake-opt" / "bbh_causal_judgement" / "config.json").read_text()
    assert json.loads(hist)["split"] == "train"

    md = to_markdown(results)
    assert "failed: UserError" in md and "| io |" in md
    # resume: nothing is recomputed, the fakes see no new calls
    calls = (executor.usage.calls, generator.usage.calls, optimizer.usage.calls)
    seen.clear()
    again = await run_eval(methods, cells, executor_spec="fake-exec", out_dir=tmp_path, limit=3,
                           search_rounds=1, search_limit=2, load=llms.__getitem__,
                           progress=lambda r, cached: seen.append(cached))
    assert seen.count(True) == 7 and seen[5] is False  # only the failed cell (search x hyperbaton) is retried
    assert (executor.usage.calls, generator.usage.calls) == calls[:2]
    assert [r.score for r in again] == [r.score for r in results]


@pytest.mark.integration
def test_cli_eval_writes_tables_and_bad_input_exits_2(tmp_path):
    bad = subprocess.run([sys.executable, "-c", "from flowforge.cli import main; main()", "eval", "--suite",
                          "nope", "--methods", "io"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown suite 'nope'" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run([sys.executable, "-c", "from flowforge.cli import main; main()", "eval", "--suite",
                          "held-out", "--methods", "io,telepathy"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown method 'telepathy'" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(3600)  # cold cache: 27 cells on CPU, as long as its subprocess may take
def test_real_eval_held_out_embedded(tmp_path):
    """flowforge eval --suite held-out --methods io,cot,generator --limit 5 (embedded model)."""
    res = subprocess.run([sys.executable, "-c", "from flowforge.cli import main; main()", "eval", "--suite",
                          "held-out", "--methods", "io,cot,generator", "--limit", "5", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=3600)
    assert res.returncode in (0, 1), res.stderr[-3000:]
    rows = list(csv.DictReader((tmp_path / "eval.csv").open()))
    assert len(rows) == 3 * 9
    ok = [r for r in rows if r["status"] != "failed"]
    assert len(ok) >= 2 * 9, [r["reason"] for r in rows if r["status"] == "failed"]
    assert all(0.0 <= float(r["score"]) <= 1.0 for r in ok)
    assert all(float(r["exec_calls_per_instance"]) >= 1 for r in ok if r["method"] in ("io", "cot"))
    assert (tmp_path / "eval.md").exists() and json.loads((tmp_path / "eval.json").read_text())["cells"]


async def test_search_and_best_of_n_tune_on_the_same_split(tmp_path):
    """gsm8k trains on train; search and best-of-N selection both tune on validate, on the same
    instances, and never see test."""
    from flowforge.evaluation.methods import obtain
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task

    task = get_task("gsm8k")
    assert task.training_split == "train" and task.tuning_split == "validate"
    problems = {s: [i.problem for i in task.load(s, limit=2)] for s in ("validate", "train", "test")}
    executor = FakeLLM(lambda m: "Answer: 3", "fake-exec")
    llms = {"fake-gen": FakeLLM(lambda m: IO_VARIANT, "fake-gen"), "fake-opt": FakeLLM(lambda m: IO_VARIANT, "fake-opt")}
    opset = load_operator_set("default")

    def seen(split: str) -> list[bool]:
        text = [m["content"] for c in executor.calls for m in c["messages"]]
        return [any(p in t for t in text) for p in problems[split]]

    labels = {}
    for name in ("search:fake-opt", "generator_bo2:fake-gen"):
        executor.calls.clear()
        got = await obtain(parse_methods(name)[0], task, opset, executor=executor, llms=llms,
                           out_dir=tmp_path / name.split(":")[0], search_rounds=1, search_limit=2, select_limit=2)
        labels[name] = got.label
        # both score on the same validate instances; the generator's smoke run may read train inputs
        assert seen("validate") == [True, True] and seen("test") == [False, False], name
    assert "on validate" in labels["search:fake-opt"] and "selected on validate" in labels["generator_bo2:fake-gen"]


def test_every_score_and_mean_carries_its_standard_error():
    from flowforge.evaluation.run import CellResult, method_summary
    from flowforge.evaluation.tables import wide_rows
    from flowforge.workflow.runtime import standard_error

    assert standard_error([1.0, 0.0, 1.0, 0.0]) == pytest.approx((1 / 12) ** 0.5)
    assert standard_error([1.0]) is None and standard_error([0.5, 0.5]) == 0.0
    a = CellResult("cot", "t1", "default", "ok", score=0.5, stderr=0.3, n=4)
    b = CellResult("cot", "t2", "default", "ok", score=0.25, stderr=0.4, n=4)
    assert a.cell_text() == "0.500 ± 0.300"
    (row,) = method_summary([a, b])
    assert row["mean_score"] == pytest.approx(0.375) and row["mean_stderr"] == pytest.approx(0.25)
    _, rows = wide_rows([a, b])
    assert rows[0][:4] == ["cot", "0.500 ± 0.300", "0.250 ± 0.400", "0.375 ± 0.250"]
    invalid = CellResult("gen", "t1", "default", "invalid", score=0.0)
    assert invalid.cell_text() == "0.000 (invalid workflow)" and method_summary([invalid])[0]["mean_stderr"] is None
