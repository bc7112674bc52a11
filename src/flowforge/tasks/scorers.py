"""Scorers, AFlow conventions. Each is `(answer: str, instance) -> Score` with value in [0, 1].

Evaluation and the RL reward share these functions. An infrastructure failure (the sandbox
cannot run) raises SandboxError; it is never turned into a score of 0. Answer text is parsed by
flowforge.answers (capped, linear-time), so no answer can stall a scorer.

- last_number  GSM8K and synth/arith_word: the final number (last \\boxed{} or `####` if present).
- math_equiv   MATH: the last \\boxed{} (else the last number) equivalent by math-verify, in a
               killable worker with a time limit (undecided in time scores 0).
- f1 / exact_match  SQuAD-normalised token F1 / EM (HotpotQA, synth/passage_qa).
- drop_f1      DROP: best F1 over the `|`-separated references.
- code_tests   MBPP, HumanEval, synth/list_ops: pass@1 of the hidden tests in the sandbox.
- bbh_exact    BBH: normalised exact match ("(A)" = "A", trailing period, "The answer is X").
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Callable

from flowforge.answers import (
    answer_or_last_line, code, final_answer_text, last_boxed, last_number, normalize, to_number,
)
from flowforge.sandbox import CODE_PRELUDE
from flowforge.types import Instance, Score

__all__ = ["SCORERS", "CODE_PRELUDE", "f1", "last_boxed"]

MATH_TIMEOUT_S = 5.0  # math-verify's budget per answer, in a killable worker


def f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction).split(), normalize(gold).split()
    if not p or not g:
        return float(p == g)
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


# ---- scorers ------------------------------------------------------------------------------


def score_last_number(answer: str, instance: Instance) -> Score:
    pred, gold = to_number(last_number(answer)), to_number(str(instance.reference))
    ok = pred is not None and gold is not None and abs(pred - gold) <= 1e-6 * max(1.0, abs(gold))
    shown = "" if pred is None else f"{pred:g}"
    return Score(float(ok), shown, f"predicted {shown or 'no number'}, expected {instance.reference}")


def score_math_equiv(answer: str, instance: Instance) -> Score:
    from flowforge.tasks.math_worker import equivalent

    pred = last_boxed(answer)
    if pred is None:
        pred = last_number(answer) or ""
    gold = str(instance.reference)
    if not pred.strip():
        return Score(0.0, "", f"no boxed answer or number; expected {gold}")
    ok = equivalent(gold, pred[:2000], MATH_TIMEOUT_S)
    if ok is None:
        return Score(0.0, pred, f"math-verify did not decide within {MATH_TIMEOUT_S:g}s; expected {gold}")
    return Score(float(ok), pred, f"predicted {pred}, expected {gold}")


def score_f1(answer: str, instance: Instance) -> Score:
    pred = final_answer_text(answer)
    gold = str(instance.reference)
    em = float(normalize(pred) == normalize(gold))
    return Score(f1(pred, gold), pred, f"expected {gold}", {"em": em})


def score_exact_match(answer: str, instance: Instance) -> Score:
    pred = final_answer_text(answer)
    gold = str(instance.reference)
    return Score(float(normalize(pred) == normalize(gold)), pred, f"expected {gold}")


def score_drop_f1(answer: str, instance: Instance) -> Score:
    pred = final_answer_text(answer)
    refs = [r for r in str(instance.reference).split("|") if r.strip()] or [""]
    best = max(f1(pred, r) for r in refs)
    return Score(best, pred, f"references: {' | '.join(refs)}")




def score_code_tests(answer: str, instance: Instance) -> Score:
    """pass@1 of the hidden tests. reference = {"tests": [...] or str, "entry_point", "prompt"?,
    "imports"?}. The program and the tests run in separate sandboxed processes (see
    flowforge.sandbox.run_tests). SandboxError (the sandbox itself failed) propagates."""
    from flowforge.sandbox import run_tests

    ref = instance.reference
    ep = ref["entry_point"]
    program = code(answer, ep)
    if ref.get("prompt") and not re.search(rf"def\s+{re.escape(ep)}\s*\(", program) and program[:1].isspace():
        program = ref["prompt"] + program  # a completion of the signature (HumanEval style)
    header = CODE_PRELUDE + "".join(f"{i}\n" for i in ref.get("imports", []))
    res = run_tests(header + program, ref["tests"], entry_point=ep, setup=header)
    counts = res.result if isinstance(res.result, dict) else {}
    why = "all hidden tests pass" if res.success else (res.message or res.error or "failed")
    return Score(float(bool(res.success)), program, why, {**counts, "error": res.error, "timeout": res.timeout})


_OPTION = re.compile(r"^\s*\(([A-Z])\)\s*(.+?)\s*$", re.M)
_WORD_TARGETS = {"true", "false", "yes", "no", "valid", "invalid"}


def _bbh_norm(s: str) -> str:
    s = s.strip().strip("*`\"'").strip()
    s = s.rstrip(".!").strip()
    return " ".join(s.lower().split())


def score_bbh_exact(answer: str, instance: Instance) -> Score:
    target = str(instance.reference)
    raw = answer_or_last_line(answer)
    pred, gold = _bbh_norm(raw), _bbh_norm(target)
    ok = pred == gold
    letter = re.fullmatch(r"\(([a-z])\)", gold)
    if not ok and letter:  # options: "(B)", "B", "B) text", or the option's text itself
        m = re.match(r"^\(?([a-z])\)?(?=$|[\s.:)])", pred)
        if m:
            ok = m.group(1) == letter.group(1)
        else:
            texts = {_bbh_norm(t): k.lower() for k, t in _OPTION.findall(instance.problem)}
            ok = texts.get(pred) == letter.group(1)
    elif not ok and gold in _WORD_TARGETS:
        ok = (re.findall(r"[a-z]+", pred) or [""])[0] == gold
    elif not ok and to_number(gold) is not None:
        num = last_number(pred)
        ok = num is not None and to_number(num) == to_number(gold)
    return Score(float(ok), raw, f"predicted {raw!r}, expected {target!r}")


SCORERS: dict[str, Callable[[str, Instance], Score]] = {
    "last_number": score_last_number,
    "math_equiv": score_math_equiv,
    "f1": score_f1,
    "exact_match": score_exact_match,
    "drop_f1": score_drop_f1,
    "code_tests": score_code_tests,
    "bbh_exact": score_bbh_exact,
}
