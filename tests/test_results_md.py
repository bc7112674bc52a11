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
