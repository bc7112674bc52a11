"""Bad input at the CLI (issue 8, item 4): each case runs the real `flowforge` CLI in a subprocess
and must exit 2 with exactly one non-empty stderr line, `error: ...`, naming the file (and line
where there is one), never a traceback. Task-loader details are covered in Python by
tests/test_bad_input_tasks.py; this is the command-level corpus (tasks, operator sets, workflows,
model specs, endpoints, run dirs, huge inputs, option values).

    .venv/bin/python -m pytest tests/test_bad_input_cli.py -q
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # every case runs the CLI in a subprocess
ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from flowforge.cli import main; main()"]
DEAD = "openai:x@http://127.0.0.1:9/v1"  # nothing listens on port 9: no case may need a model

SPEC = ("name: t\ndomain: qa\ndescription: Questions.\nanswer_format: a span\nscorer: f1\n"
        "fields:\n  problem: q\n  reference: a\nsplits:\n  test: d.jsonl\n")
OP = ("  - name: answer_generate\n    signature: answer_generate(input) -> dict\n"
      "    description: Reason then answer.\n    impl: answer_generate\n")
FILES = {  # name -> bytes, written into the case's tmp dir
    "t.yaml": SPEC.encode(),
    "io.py": (ROOT / "src/flowforge/workflow/reference" / "io.py").read_bytes(),
    "bad_json.jsonl": b'{"q": "a", "a": "b"}\n\n{"q": "c", "a": \n',
    "wrong_fields.jsonl": b'{"q": "a", "a": "b"}\n{"question": "c", "answer": "d"}\n',
    "empty.jsonl": b"",
    "binary.jsonl": b'{"q": "a", "a": "b"}\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR',
    "ops_syntax.yaml": b"name: s\noperators:\n  - name: a\n  bad: 1\n",
    "ops_missing.yaml": ("name: s\noperators:\n" + OP.replace("    description: Reason then answer.\n", "")).encode(),
    "ops_dup.yaml": ("name: s\noperators:\n" + OP + OP).encode(),
    "ops_type.yaml": ("name: s\noperators:\n" + OP.replace("Reason then answer.", "[1, 2]")).encode(),
    "ops_not_list.yaml": b"name: s\noperators: 7\n",
    "ops_impl.yaml": ("name: s\noperators:\n" + OP.replace("impl: answer_generate", "impl: nosuch")).encode(),
    "ops_empty.yaml": b"",
    "ops_binary.yaml": bytes(range(256)) * 4,
    "wf_unknown_op.py": b"async def solve(problem, ops):\n    r = await ops.nosuch_op(input=problem)\n    return r\n",
    "wf_import.py": b"import os\n\nasync def solve(problem, ops):\n    return os.getcwd()\n",
    "wf_syntax.py": b"async def solve(problem, ops):\n    return (\n",
    "wf_empty.py": b"",
    "wf_binary.py": b"async def solve(problem, ops):\n    return '\xff\xfe\x00'\n",
    "not_a_dir": b"",
    "corrupt/run.json": b"{oops",
    "other/run.json": json.dumps({"task": "gsm8k", "executor": "embedded"}).encode(),
}


def run_args(workflow="{d}/io.py", task="synth/arith_word", *extra):
    return ["run", workflow, "--task", task, "--limit", "1", "--executor", DEAD, "--out", "{d}/out", *extra]


def user_task(jsonl: str) -> list[str]:
    return ["--spec-data", jsonl, *run_args(task="{d}/t.yaml"), "--limit", "5"]  # every row is loaded


CASES = [  # id, argv (with {d} = the case dir), regex the single stderr line must match
    ("jsonl_malformed", user_task("bad_json.jsonl"), r"{d}/d\.jsonl:3: invalid JSON"),
    ("jsonl_wrong_fields", user_task("wrong_fields.jsonl"), r"{d}/d\.jsonl:2: missing field 'q' \(row has: answer, question\)"),
    ("jsonl_empty", user_task("empty.jsonl"), r"{d}/d\.jsonl: empty file"),
    ("jsonl_binary", user_task("binary.jsonl"), r"{d}/d\.jsonl:[23]: (binary data|not UTF-8)"),
    ("task_unknown", run_args(task="gsm8K"), r"unknown task 'gsm8K'.*gsm8k"),
    ("task_spec_missing", run_args(task="{d}/nope.yaml"), r"{d}/nope\.yaml: task spec not found"),
    ("split_unknown", run_args() + ["--split", "nope"], r"synth/arith_word has no split 'nope' \(splits: train, validate, test\)"),
    ("limit_negative", run_args() + ["--limit", "-1"], r"limit must be >= 0"),
    ("model_spec_unknown", ["run", "{d}/io.py", "--task", "synth/arith_word", "--executor", "bogus:thing", "--out", "{d}/out"],
     r"unknown model spec 'bogus:thing'; accepted forms"),
    ("model_spec_no_url", ["run", "{d}/io.py", "--task", "synth/arith_word", "--executor", "openai:x", "--out", "{d}/out"],
     r"model spec 'openai:x': expected openai:MODEL@BASE_URL"),
    ("endpoint_unreachable", run_args(), r"cannot reach http://127\.0\.0\.1:9/v1"),
    ("opset_unknown_name", ["operators", "nosuchset"], r"unknown operator set 'nosuchset'; available: .*default"),
    ("opset_unknown_name_run", run_args() + ["--operators", "nosuchset"], r"unknown operator set 'nosuchset'"),
    ("opset_missing_file", ["operators", "{d}/nope.yaml"], r"operator set file {d}/nope\.yaml does not exist"),
    ("opset_is_directory", ["operators", "{d}"], r"{d}"),
    ("workflow_unknown_operator", run_args("{d}/wf_unknown_op.py"),
     r"{d}/wf_unknown_op\.py: line 2: `ops\.nosuch_op` is not in operator set 'default'"),
    ("workflow_import_os", run_args("{d}/wf_import.py"), r"{d}/wf_import\.py: line 1: imports are not allowed"),
    ("workflow_syntax_error", run_args("{d}/wf_syntax.py"), r"{d}/wf_syntax\.py: line 2: syntax error: '\(' was never closed"),
    ("workflow_empty", run_args("{d}/wf_empty.py"), r"{d}/wf_empty\.py: define exactly one `async def solve"),
    ("workflow_missing", run_args("{d}/nope.py"), r"workflow file {d}/nope\.py does not exist"),
    ("workflow_binary", run_args("{d}/wf_binary.py"), r"{d}/wf_binary\.py: not UTF-8"),
    ("workflow_unknown_op_in_set_file", run_args("{d}/wf_unknown_op.py") + ["--operators", "{d}/ops.yaml"],
     r"{d}/wf_unknown_op\.py: line 2: `ops\.nosuch_op` is not in operator set 's'"),
    ("out_is_a_file", run_args()[:-1] + ["{d}/not_a_dir"], r"{d}/not_a_dir is a file"),
    ("out_corrupt_run_json", run_args()[:-1] + ["{d}/corrupt"], r"{d}/corrupt/run\.json"),
    ("out_holds_other_run", run_args()[:-1] + ["{d}/other"], r"{d}/other holds a different run \(task: 'gsm8k'"),
    ("option_out_of_range", run_args() + ["--concurrency", "0"], r"'--concurrency'"),
    ("option_missing", ["run", "{d}/io.py"], r"Missing option '--task'"),
    ("rl_micro_batch_not_dividing", ["train", "rl", "--out", "{d}/rl", "--num-generations", "4", "--micro-batch-size", "3"],
     r"--micro-batch-size must divide num_generations \* prompts_per_step = 8, got 3"),
    ("synth_candidates_zero", ["train", "synth", "--out", "{d}/s", "--candidates", "0"], r"--candidates-per-task must be >= 1, got 0"),
    ("synth_max_heavy_negative", ["train", "synth", "--out", "{d}/s", "--max-heavy", "-1"], r"--max-heavy-per-task and --teacher-samples must be >= 0"),
    ("rl_temperature_zero", ["train", "rl", "--out", "{d}/rl", "--temperature", "0"], r"--temperature > 0"),
    ("train_config_missing", ["train", "sft", "--config", "{d}/nope.yaml"], r"--config {d}/nope\.yaml: file not found"),
    ("train_config_unknown_key", ["train", "rl", "--config", "{d}/ops.yaml"], r"--config {d}/ops\.yaml: unknown setting 'name'"),
]
OPSET_CASES = [  # the same file through `flowforge operators PATH` and `flowforge run --operators PATH`
    ("syntax", "ops_syntax.yaml", r"{d}/ops\.yaml:4: not valid YAML"),
    ("missing_field", "ops_missing.yaml", r"{d}/ops\.yaml: field operators\[0\]\.description: Field required"),
    ("duplicate_names", "ops_dup.yaml", r"{d}/ops\.yaml: field operators: .*duplicate operator names \['answer_generate'\]"),
    ("wrong_type", "ops_type.yaml", r"{d}/ops\.yaml: field operators\[0\]\.description: Input should be a valid string"),
    ("not_a_list", "ops_not_list.yaml", r"{d}/ops\.yaml: field operators: Input should be a valid list"),
    ("unknown_impl", "ops_impl.yaml", r"{d}/ops\.yaml: field operators\[0\]\.impl: .*impl 'nosuch' is unknown"),
    ("empty_file", "ops_empty.yaml", r"{d}/ops\.yaml: field name: Field required"),
    ("binary_file", "ops_binary.yaml", r"{d}/ops\.yaml: not UTF-8"),
]
for oid, fname, rx in OPSET_CASES:
    CASES.append((f"opset_{oid}", ["--ops-file", fname, "operators", "{d}/ops.yaml"], rx))
    CASES.append((f"opset_{oid}_run", ["--ops-file", fname, *run_args(), "--operators", "{d}/ops.yaml"], rx))


def cli(args: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    """The real CLI; cwd is the case dir so a default `runs/` never lands in the repo."""
    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1", "FLOWFORGE_HTTP_RETRIES": "1",
                               "FLOWFORGE_HOME": str(cwd / "home"), **env})


def prepare(d: Path, argv: list[str]) -> list[str]:
    for name, data in FILES.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
    (d / "ops.yaml").write_bytes(FILES["ops_dup.yaml"].replace(OP.encode(), b"", 1))  # a valid one-op set
    out = []
    it = iter(argv)
    for a in it:  # pseudo-options pick which file plays d.jsonl / ops.yaml for this case
        if a == "--spec-data":
            (d / "d.jsonl").write_bytes(FILES[next(it)])
        elif a == "--ops-file":
            (d / "ops.yaml").write_bytes(FILES[next(it)])
        else:
            out.append(a.replace("{d}", str(d)))
    return out


def one_error_line(r: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in r.stdout + r.stderr, r.stderr[-3000:]
    assert r.returncode == 2, f"exit {r.returncode}; stderr: {r.stderr[-3000:]}"
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {r.stderr[-3000:]}"
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("case_id,argv,pattern", [pytest.param(*c, id=c[0]) for c in CASES])
def test_bad_input_exits_2_with_one_line(tmp_path, case_id, argv, pattern):
    import re

    line = one_error_line(cli(prepare(tmp_path, argv), tmp_path))
    assert re.search(pattern.replace("{d}", re.escape(str(tmp_path))), line), line
    assert not (tmp_path / "out" / "results.jsonl").exists() or not (tmp_path / "out" / "results.jsonl").read_text()


@pytest.mark.parametrize("wf,rule", [("wf_import.py", "[import]"), ("wf_syntax.py", "[syntax]"),
                                     ("wf_unknown_op.py", "[unknown-operator]")])
def test_workflow_error_keeps_rule_id(tmp_path, wf, rule):
    line = one_error_line(cli(prepare(tmp_path, run_args("{d}/" + wf)), tmp_path))
    assert line.endswith(rule), line


def test_huge_workflow_file_is_refused(tmp_path):
    """A 20 MB workflow (one big literal: the cheap shape; 2M statements would eat GBs today)."""
    wf = tmp_path / "wf_huge.py"
    wf.write_text("async def solve(problem, ops):\n    x = '" + "a" * (20 << 20) + "'\n    return problem\n")
    line = one_error_line(cli(prepare(tmp_path, run_args(str(wf))), tmp_path))
    assert str(wf) in line and "limit" in line


def test_huge_jsonl_line_is_accepted_within_bounds(tmp_path):
    """Limit decision: task data has no size cap. A 50 MB JSONL line loads, runs and scores in
    seconds and a few hundred MB (measured 1.7 s, 246 MB RSS), so it is not bad input."""
    argv = prepare(tmp_path, ["--spec-data", "empty.jsonl", *run_args("{d}/wf_len.py", "{d}/t.yaml")])
    (tmp_path / "d.jsonl").write_text(json.dumps({"q": "x" * (50 << 20), "a": "b"}) + "\n")
    (tmp_path / "wf_len.py").write_text("async def solve(problem, ops):\n    return len(problem)\n")
    t0 = time.monotonic()
    r = cli(argv, tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert time.monotonic() - t0 < 60
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 2 << 20  # KB: under 2 GB
    row = json.loads((tmp_path / "out" / "results.jsonl").read_text())
    assert row["answer"] == str(50 << 20) and row["score"] == 0.0 and row["error"] is None
