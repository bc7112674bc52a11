"""examples/unit_convert end to end through the real CLI: a user task, an operator from user code.
The tool-only run needs no model; generate/run/eval on the embedded model is marked slow."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "unit_convert"
CLI = [sys.executable, "-c", "from flowforge.cli import main; main()"]


def _cli(args: list[str], cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    r = subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       env={**__import__("os").environ, "COLUMNS": "200"})
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    return r


@pytest.fixture
def example(tmp_path) -> Path:
    """A copy of the example outside the repo, as a user would have it."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "unit_convert"))


def test_example_data_matches_its_tool():
    sys.path.insert(0, str(EXAMPLE))
    try:
        from unit_tools import convert
    finally:
        sys.path.remove(str(EXAMPLE))
    for split in ("validate", "test"):
        rows = [json.loads(line) for line in (EXAMPLE / f"{split}.jsonl").read_text().splitlines()]
        assert len(rows) == {"validate": 20, "test": 40}[split]
        assert all(f"{convert(r['question']):.6g}" == r["answer"] for r in rows)


@pytest.mark.integration
def test_example_tool_workflow_runs_from_the_cli(example):
    r = _cli(["operators", "operators.yaml"], example)
    assert r.returncode == 0 and "convert_units(text: str) -> str" in r.stdout and "unit_tools:convert_units" in r.stdout
    r = _cli(["run", "convert.py", "--task", "spec.yaml", "--operators", "operators.yaml", "--limit", "8",
              "--out", "run"], example)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((example / "run" / "summary.json").read_text())
    assert summary["n"] == 8 and summary["score"] == 1.0 and summary["usage"]["calls"] == 0
    traces = [json.loads(line) for line in (example / "run" / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == 8 and {t["operator"] for t in traces} == {"convert_units"}
    assert all(t["error"] is None and t["usage"]["calls"] == 0 for t in traces)


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.integration
@pytest.mark.timeout(4500)  # cold cache: generation, run and eval on CPU
def test_example_generate_run_eval_on_the_embedded_model(example):
    """The README's commands with small limits: the shipped generator writes a workflow for the
    user task and operator set, it runs, and eval puts io, cot and the generator in one table."""
    r = _cli(["generate", "--task", "spec.yaml", "--operators", "operators.yaml", "--attempts", "2",
              "-o", "generated.py"], example, timeout=1200)
    source = (example / "generated.py").read_text()
    assert "async def solve(problem, ops)" in source
    if r.returncode == 0:  # a valid workflow: run it
        r = _cli(["run", "generated.py", "--task", "spec.yaml", "--operators", "operators.yaml", "--limit", "2",
                  "--out", "gen-run"], example, timeout=1200)
        assert r.returncode in (0, 1) and (example / "gen-run" / "results.jsonl").exists(), r.stderr[-2000:]
    else:
        assert "invalid workflow" in r.stdout, r.stdout[-2000:]
    r = _cli(["eval", "--tasks", "spec.yaml", "--operators", "operators.yaml", "--methods", "io,cot,generator",
              "--limit", "2", "--out", "eval"], example, timeout=1800)
    table = json.loads((example / "eval" / "eval.json").read_text())
    cells = {c["method"]: c for c in table["cells"]}
    assert set(cells) == {"io", "cot", "generator"} and all(c["task"] == "unit_convert" for c in cells.values())
    assert cells["io"]["status"] == "ok" and cells["io"]["n"] == 2
    assert cells["generator"]["status"] in ("ok", "invalid") and cells["generator"]["obtain_usage"]["calls"] >= 1
    assert (example / "eval" / "report.html").exists() and (example / "eval" / "score_vs_cost.png").exists()
    assert "report" in r.stdout and "eval.md" in r.stdout
