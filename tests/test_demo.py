"""`flowforge demo`: one generated workflow for a held-out family, beside io and cot on the same
test instances. Models are fakes here (plumbing); `make demo` runs it on the embedded model."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fakes import FakeLLM
from flowforge.cli import app
from test_search import IO_VARIANT


def test_demo_runs_the_generator_io_and_cot_on_the_same_instances(tmp_path, monkeypatch):
    models = {"fake-gen": FakeLLM(lambda m: IO_VARIANT, "fake-gen"),
              "fake-exec": FakeLLM(lambda m: "Thought: look it up.\nAnswer: Mira Okafor", "fake-exec")}
    monkeypatch.setattr("flowforge.llm.load_llm", lambda spec, **kw: models[spec])
    out = tmp_path / "demo"
    r = CliRunner().invoke(app, ["demo", "--generator", "fake-gen", "--executor", "fake-exec", "--limit", "3",
                                 "--out", str(out)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "the generator's workflow for synth/two_hop" in r.output and "ops.answer_generate(input=problem)" in r.output
    cells = {c["method"]: c for c in json.loads((out / "eval.json").read_text())["cells"]}
    assert list(cells) == ["generator:fake-gen", "io", "cot"] and {c["n"] for c in cells.values()} == {3}
    assert cells["generator:fake-gen"]["obtain_usage"]["calls"] >= 1 and cells["io"]["obtain_usage"]["calls"] == 0
    ids = [sorted(json.loads(ln)["id"] for ln in (out / c["workflow"]).with_name("results.jsonl").read_text().splitlines())
           for c in cells.values()]
    assert ids[0] == ids[1] == ids[2] and len(ids[0]) == 3
    assert (out / "report.html").exists()


@pytest.mark.integration
def test_demo_rejects_a_bad_limit_in_one_line(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", "from flowforge.cli import main; main()", "demo", "--limit", "0",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == "error: --limit must be at least 1, got 0"
