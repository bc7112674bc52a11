"""benchmarks/rl_compositions.py: what the window figures count, from a hand-written rewards log."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from rl_compositions import by_kind, summarise  # noqa: E402


def _row(variant, valid, score, calls=0.0, composition=""):
    return {"step": 0, "variant": variant, "valid": valid, "score": score, "calls": calls, "composition": composition}


def test_summarise_counts_validity_executor_calls_and_the_top_composition_per_task():
    rows = [_row("synth/a#0:base", 1.0, 1.0, 0.0, "find_all > calculate"),
            _row("synth/a#1:rename", 1.0, 0.5, 0.0, "find_all > calculate"),
            _row("synth/a#0:base", 1.0, 0.0, 2.0, "generate"),
            _row("synth/b#0:base", 0.0, 0.0),
            _row("synth/b#2:subset", 1.0, None, 1.0, "")]
    s = summarise(rows)
    assert s["completions"] == 5 and s["valid"] == 0.8
    assert s["score"] == 1.5 / 5  # unscored and invalid completions count as 0
    assert s["calls"] == 3.0 / 4 and s["no_executor"] == 2 / 4
    a = s["tasks"]["synth/a"]
    assert (a["top"], a["n"], round(a["share"], 3), a["score"]) == ("find_all > calculate", 3, 0.667, 0.5)
    assert s["tasks"]["synth/b"]["top"] == "(no operator)" and s["tasks"]["synth/b"]["n"] == 1
    assert s["no_spread"] == 3 / 4  # of the four (step, variant) groups only synth/a#0 has two scores


def test_by_kind_splits_validity_and_score_by_operator_set_variant():
    rows = [_row("synth/a#0:base", 1.0, 1.0), _row("synth/a#0:base", 0.0, 0.0), _row("synth/b#1:renamed", 0.0, 0.0),
            _row("synth/b#1:renamed", 1.0, 0.5), _row("synth/b#2:mixed", 1.0, None)]
    k = by_kind(rows)
    assert list(k) == ["base", "mixed", "renamed"]
    assert k["base"] == {"n": 2, "valid": 0.5, "score": 0.5}
    assert k["renamed"] == {"n": 2, "valid": 0.5, "score": 0.25} and k["mixed"]["score"] == 0.0
