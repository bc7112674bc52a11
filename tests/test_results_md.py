"""RESULTS.md is generated: it matches what benchmarks/results_md.py renders from results/tables/,
and an eval directory's table can be added without copying numbers by hand."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results_md():
    spec = importlib.util.spec_from_file_location("results_md", ROOT / "benchmarks" / "results_md.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_results_md_is_rendered_from_the_committed_json(results_md):
    tables = results_md.load(ROOT / "results" / "tables")
    assert tables and (ROOT / "RESULTS.md").read_text() == results_md.render(tables)
    for t in tables:
        assert t["command"] and all(len(r) == len(t["columns"]) for r in t["rows"]), t["file"]


def test_an_eval_dir_becomes_a_results_table(results_md, tmp_path):
    from flowforge.evaluation.run import CellResult

    fields = CellResult.__dataclass_fields__
    cell = {"method": "io", "task": "gsm8k", "operators": "default", "status": "ok", "score": 0.25, "n": 4}
    cell = {k: v for k, v in cell.items() if k in fields}
    (tmp_path / "eval.json").write_text(json.dumps({"cells": [cell]}))
    table = results_md.from_eval(tmp_path, order=1, title="t", command="flowforge eval ...", setup="s")
    assert table["columns"][:3] == ["method", "gsm8k", "mean"] and table["rows"][0][0] == "io"
    assert table["rows"][0][1] == table["rows"][0][2] == "0.250"
    md = results_md.render([{**table, "file": "x.json"}])
    assert "| io | 0.250 | 0.250 |" in md and "Command: `flowforge eval ...`" in md


@pytest.fixture(scope="module")
def transfer():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("transfer", ROOT / "benchmarks" / "transfer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_transfer_picks_the_fixed_workflow_on_training_families_and_adds_the_oracle(transfer, tmp_path):
    from flowforge.tasks.synth import HELDOUT, TRAINING

    def cell(score):
        return {"score": score, "n": 10}

    fams = {f: {"cells": {"validate/comp:numbers_vote": cell(1.0 if i < 3 else 0.0)}} for i, f in enumerate(TRAINING)}
    fams[TRAINING[0]]["cells"]["validate/comp:extract_calculate"] = cell(1.0)  # best on one family only
    fams[HELDOUT[0]] = {"cells": {"validate/comp:extract_calculate": cell(1.0)},  # held out: never counts
                        "oracle": {"test": 0.9, "stderr": 0.04}}
    cur = {"families": fams}
    means = transfer.training_means(cur)
    assert means["comp:numbers_vote"] == pytest.approx(3 / len(TRAINING))
    assert means["comp:extract_calculate"] == pytest.approx(1 / len(TRAINING))
    out = tmp_path / "best.py"
    assert transfer.pick_fixed(cur, out) == "comp:numbers_vote" and "ops.vote" in out.read_text()
    columns = ["method", f"synth/{HELDOUT[0]}", "gsm8k", "mean", "obtain calls"]
    assert transfer.oracle_row(columns, cur) == [transfer.ORACLE_LABEL, "0.900 ± 0.040", "—", "0.900 ± 0.040", "—"]
