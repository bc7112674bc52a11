"""Report HTML: structure from a run dir, an eval dir, a search dir and a training log, and the
page rendered in real headless Chromium with no console errors (screenshot saved under
tests/artifacts/). Chromium comes from `make test-deps`; set FLOWFORGE_REQUIRE_CHROMIUM=1 (CI)
to fail instead of skip when it is missing."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flowforge.errors import UserError
from flowforge.evaluation.report import build_report, graph_svg, operator_sequence, write_report
from flowforge.evaluation.run import CellResult
from flowforge.evaluation.tables import write_tables

WORKFLOW = '''async def solve(problem, ops):
    """Draft three answers, vote, format."""
    drafts = [await ops.answer_generate(input=problem) for _ in range(3)]
    best = await ops.sc_ensemble(solutions=[d["answer"] for d in drafts])
    return await ops.format(solution=best)
'''
ARTIFACTS = Path(__file__).parent / "artifacts"


def make_run_dir(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "workflow.py").write_text(WORKFLOW)
    (d / "summary.json").write_text(json.dumps({"task": "gsm8k", "score": 0.5, "n": 2, "errors": 0}))
    results = [
        {"id": "gsm8k-1", "problem": "What is 2+2?", "answer": "4", "score": 1.0, "error": None,
         "usage": {"calls": 5}},
        {"id": "gsm8k-2", "problem": "Tom has <b>3</b> apples", "answer": "7", "score": 0.0,
         "error": "OperatorError: boom", "usage": {"calls": 5}},
    ]
    (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    traces = [{"instance_id": "gsm8k-1", "operator": "answer_generate", "inputs": {"input": "What is 2+2?"},
               "output": {"answer": "4"}, "usage": {"calls": 1}},
              {"instance_id": "gsm8k-2", "calls": [{"operator": "format", "inputs": {"solution": "7"},
                                                     "output": "7", "error": "OperatorError: boom"}]}]
    (d / "traces.jsonl").write_text("".join(json.dumps(t) + "\n" for t in traces))
    return d


def make_eval_dir(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    wf = d / "runs" / "cot" / "gsm8k" / "workflow.py"
    wf.parent.mkdir(parents=True)
    wf.write_text(WORKFLOW)
    cells = [
        CellResult("io", "gsm8k", "default", "ok", score=0.25, n=4, exec_usage={"calls": 4, "prompt_tokens": 400}),
        CellResult("io", "hotpotqa", "default", "ok", score=0.5, n=4, exec_usage={"calls": 4, "prompt_tokens": 800}),
        CellResult("cot", "gsm8k", "default", "ok", score=0.75, n=4, exec_usage={"calls": 8, "prompt_tokens": 900},
                   workflow="runs/cot/gsm8k/workflow.py"),
        CellResult("cot", "hotpotqa", "default", "failed", reason="BackendError: endpoint down"),
    ]
    write_tables(cells, d, {"suite": "held-out", "executor": "fake", "limit": 4})
    return d


def test_operator_sequence_marks_loops_and_order():
    seq = operator_sequence(WORKFLOW)
    assert seq == [("answer_generate", 3, True), ("sc_ensemble", 4, False), ("format", 5, False)]
    svg = graph_svg(WORKFLOW)
    assert svg.startswith("<svg") and svg.count("<rect") == 5 and "sc_ensemble" in svg


def test_run_report_has_code_scores_traces_and_escapes(tmp_path):
    page = build_report(make_run_dir(tmp_path / "run"))
    assert "async def solve" in page and "<svg" in page
    assert page.count("<details class='instance'>") == 2
    assert "answer_generate" in page and "OperatorError: boom" in page
    assert "Tom has &lt;b&gt;3&lt;/b&gt;" in page and "<b>3</b>" not in page  # inputs are escaped
    assert "data:image/png;base64," in page
    assert not re.search(r"<(script|link)[^>]+src=", page)  # nothing external


def test_eval_report_table_failed_cell_and_plots(tmp_path):
    page = build_report(make_eval_dir(tmp_path / "ev"))
    assert "<table class=\"scores\">" in page
    assert "failed: BackendError: endpoint down" in page
    assert page.count("data:image/png;base64,") == 2  # score vs cost + per-task bars
    md = (tmp_path / "ev" / "eval.md").read_text()
    assert "| cot | 0.750 | failed: BackendError: endpoint down | 0.750 |" in md


def test_report_command_on_an_eval_dir_prints_the_table_and_the_cost_plot(tmp_path):
    from typer.testing import CliRunner

    from flowforge.cli import app
    from flowforge.evaluation.report import COST_PLOT, cost_figure, read_eval

    d = make_eval_dir(tmp_path / "ev")
    cells, data = read_eval(d)
    assert [(c.method, c.task, c.status) for c in cells][:2] == [("io", "gsm8k", "ok"), ("io", "hotpotqa", "ok")]
    fig = cost_figure(data["methods"])  # one point per method with a mean: x = obtain tokens, then exec tokens
    assert [ax.get_title() for ax in fig.axes] == ["score against obtain cost", "score against execution cost"]
    assert sorted(round(y, 3) for y in fig.axes[0].collections[0].get_offsets()[:, 1].tolist()
                  + fig.axes[0].collections[1].get_offsets()[:, 1].tolist()) == [0.375, 0.75]
    r = CliRunner().invoke(app, ["report", str(d)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "io" in r.output and "cot" in r.output and "gsm8k" in r.output and "hotpotqa" in r.output
    assert "0.750" in r.output and "failed: BackendError" in r.output
    assert f"score against obtain cost: {d / COST_PLOT}" in r.output.replace("\n", "")
    assert (d / COST_PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (d / "report.html").exists()


def test_training_and_search_sections(tmp_path):
    d = tmp_path / "train"
    d.mkdir()
    (d / "log.jsonl").write_text("".join(json.dumps({"step": i, "loss": 1 / (i + 1), "reward": i / 10}) + "\n"
                                         for i in range(10)))
    (d / "history.jsonl").write_text(json.dumps({"round": 0, "parent": None, "source": WORKFLOW, "valid": True,
                                                 "score": 0.5, "optimizer_usage": {}, "executor_usage": {"calls": 3}})
                                     + "\n")
    page = build_report(d)
    assert "Training curves: log.jsonl" in page and "Search history" in page


def test_empty_dir_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="holds no run"):
        build_report(tmp_path)


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        if os.environ.get("FLOWFORGE_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required (FLOWFORGE_REQUIRE_CHROMIUM set); run `make test-deps`")
        pytest.skip("chromium not installed; run `make test-deps` (apt-get install chromium)")
    return exe


def _headless(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=3000"]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.integration
def test_report_renders_in_headless_chromium(tmp_path):
    exe = _chromium()
    d = make_eval_dir(tmp_path / "ev")
    make_run_dir(d)  # one page with every section
    (d / "log.jsonl").write_text("".join(json.dumps({"step": i, "loss": 1 / (i + 1)}) + "\n" for i in range(5)))
    page = write_report(d)
    url = page.resolve().as_uri()

    dom = _headless(exe, tmp_path / "p1", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-report-ready="1"' in dom.stdout  # our inline JS ran to the end
    assert re.search(r'<pre id="js-errors" class="bad"></pre>', dom.stdout), "page JS reported errors"
    assert "<table" in dom.stdout and "failed: BackendError" in dom.stdout
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    res = _headless(exe, tmp_path / "p2", f"--screenshot={shot}", "--window-size=1280,1600", url)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    import matplotlib.image as mpimg

    img = mpimg.imread(str(shot))
    assert img.shape[0] >= 1000 and img.shape[1] >= 1200
    assert img[..., :3].std() > 0.05  # not a blank page


@pytest.mark.integration
def test_chromium_check_catches_page_errors(tmp_path):
    """The console/JS-error check above can fail: a page with a broken script is caught."""
    exe = _chromium()
    page = make_run_dir(tmp_path / "run") / "report.html"
    page.write_text(build_report(tmp_path / "run").replace("</body>", "<script>undefinedThing.x()</script></body>"))
    dom = _headless(exe, tmp_path / "p", "--dump-dom", page.resolve().as_uri())
    assert "undefinedThing is not defined" in dom.stdout  # written into #js-errors by the page JS
    assert any("Uncaught" in ln for ln in dom.stderr.splitlines())
