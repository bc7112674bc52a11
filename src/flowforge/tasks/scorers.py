"""Scorers, AFlow conventions. Each is `(answer: str, instance) -> Score` with value in [0, 1].

Evaluation and the RL reward share these functions. An infrastructure failure (the sandbox
cannot run) raises SandboxError; it is never turned into a score of 0.

- last_number  GSM8K and synth/arith_word: the final number (last \\boxed{} or `####` if present).
- math_equiv   MATH: the last \\boxed{} (else the last number) equivalent by math-verify.
- f1 / exact_match  SQuAD-normalised token F1 / EM (HotpotQA, synth/passage_qa).
- drop_f1      DROP: best F1 over the `|`-separated references.
- code_tests   MBPP, HumanEval, synth/list_ops: pass@1 of the hidden tests in the sandbox.
- bbh_exact    BBH: normalised exact match ("(A)" = "A", trailing period, "The answer is X").
"""
from __future__ import annotations

import logging
import re
import string
import threading
from collections import Counter
from typing import Callable

from flowforge.types import Instance, Score

# ---- answer extraction ------------------------------------------------------------------

_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_ANSWER_IS = re.compile(r"(?:final answer|answer)\s*(?:is|:)\s*:?\s*(.+)", re.I)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (nested braces allowed), or None."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\boxed {"))
    if start < 0:
        return None
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None  # unbalanced


def to_number(s: str) -> float | None:
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return None


def last_number(text: str) -> float | None:
    """The final number of a verbose answer: inside the last \\boxed{} or after the last `####`
    (first number after it) when present, else the last number in the text. Handles 1,234 / $5 / 7.0 / -3."""
    boxed = last_boxed(text)
    if boxed is not None and _NUMBER.search(boxed):
        text = boxed
    elif "####" in text:
        after = _NUMBER.findall(text.rsplit("####", 1)[1])
        if after:
            return to_number(after[0])
    found = _NUMBER.findall(text)
    return to_number(found[-1]) if found else None


def final_answer_text(text: str) -> str:
    """The span after the last 'answer is' / 'Answer:' (up to the line end), else the text."""
    hits = _ANSWER_IS.findall(text)
    return hits[-1].strip() if hits else text.strip()


def extract_code(text: str, entry_point: str | None = None) -> str:
    """The program in a model answer: the fenced block defining `entry_point`, else all fenced
    blocks joined, else the text itself."""
    blocks = re.findall(r"```[ \t]*[\w+-]*[ \t]*\n(.*?)```", text, re.S)
    if not blocks:
        m = re.search(r"```[ \t]*[\w+-]*[ \t]*\n(.*)$", text, re.S)  # unterminated fence
        return m.group(1) if m else text
    if entry_point:
        for b in blocks:
            if re.search(rf"def\s+{re.escape(entry_point)}\s*\(", b):
                return b
    return "\n\n".join(blocks)


# ---- SQuAD normalisation ------------------------------------------------------------------


def normalize_answer(s: str) -> str:
    """SQuAD: lowercase, drop punctuation and articles, collapse whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
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
    pred, gold = last_number(answer), to_number(str(instance.reference))
    ok = pred is not None and gold is not None and abs(pred - gold) <= 1e-6 * max(1.0, abs(gold))
    shown = "" if pred is None else f"{pred:g}"
    return Score(float(ok), shown, f"predicted {shown or 'no number'}, expected {instance.reference}")


_mv_log = logging.getLogger("math_verify")


def score_math_equiv(answer: str, instance: Instance) -> Score:
    from math_verify import parse, verify

    _mv_log.setLevel(logging.ERROR)  # it warns when timeouts are off (needed off the main thread)
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    pred = last_boxed(answer)
    if pred is None:
        nums = _NUMBER.findall(answer)
        pred = nums[-1].replace(",", "") if nums else ""
    gold = str(instance.reference)
    if not pred.strip():
        return Score(0.0, "", f"no boxed answer or number; expected {gold}")
    g = parse(f"${gold}$", parsing_timeout=timeout)
    p = parse(f"${pred}$", parsing_timeout=timeout)
    if g and p:
        ok = verify(g, p, timeout_seconds=timeout)
    else:  # unparseable: fall back to whitespace-insensitive string equality
        ok = "".join(gold.split()) == "".join(pred.split())
    return Score(float(ok), pred, f"predicted {pred}, expected {gold}")


def score_f1(answer: str, instance: Instance) -> Score:
    pred = final_answer_text(answer)
    gold = str(instance.reference)
    em = float(normalize_answer(pred) == normalize_answer(gold))
    return Score(f1(pred, gold), pred, f"expected {gold}", {"em": em})


def score_exact_match(answer: str, instance: Instance) -> Score:
    pred = final_answer_text(answer)
    gold = str(instance.reference)
    return Score(float(normalize_answer(pred) == normalize_answer(gold)), pred, f"expected {gold}")


def score_drop_f1(answer: str, instance: Instance) -> Score:
    pred = final_answer_text(answer)
    refs = [r for r in str(instance.reference).split("|") if r.strip()] or [""]
    best = max(f1(pred, r) for r in refs)
    return Score(best, pred, f"references: {' | '.join(refs)}")


# AFlow's execution globals: model code may use these without importing them.
CODE_PRELUDE = (
    "import math\nimport re\nimport string\nimport heapq\nimport itertools\nimport collections\n"
    "import functools\nfrom typing import *\n"
)


def score_code_tests(answer: str, instance: Instance) -> Score:
    """pass@1 of the hidden tests. reference = {"tests": [...] or str, "entry_point", "prompt"?,
    "imports"?}. SandboxError (the sandbox itself failed) propagates."""
    from flowforge.sandbox import run_tests

    ref = instance.reference
    ep = ref["entry_point"]
    program = extract_code(answer, ep)
    if ref.get("prompt") and not re.search(rf"def\s+{re.escape(ep)}\s*\(", program) and program[:1].isspace():
        program = ref["prompt"] + program  # a completion of the signature (HumanEval style)
    header = CODE_PRELUDE + "".join(f"{i}\n" for i in ref.get("imports", []))
    res = run_tests(header + program, ref["tests"], entry_point=ep)
    counts = res.result if isinstance(res.result, dict) else {}
    why = "all hidden tests pass" if res.success else (res.message or res.error or "failed")
    return Score(float(bool(res.success)), program, why, {**counts, "error": res.error, "timeout": res.timeout})


_OPTION = re.compile(r"^\s*\(([A-Z])\)\s*(.+?)\s*$", re.M)
_WORD_TARGETS = {"true", "false", "yes", "no", "valid", "invalid"}


def _bbh_norm(s: str) -> str:
    s = s.strip().strip("*`\"'").strip()
    s = re.sub(r"[.!]+$", "", s).strip()
    return " ".join(s.lower().split())


def bbh_extract(answer: str) -> str:
    """'The answer is X' / 'Answer: X' if present, else a one-line answer, else the last line."""
    hits = _ANSWER_IS.findall(answer)
    if hits:
        return hits[-1].strip()
    lines = [ln for ln in answer.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def score_bbh_exact(answer: str, instance: Instance) -> Score:
    target = str(instance.reference)
    raw = bbh_extract(answer)
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
        nums = _NUMBER.findall(pred)
        ok = bool(nums) and to_number(nums[-1]) == to_number(gold)
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
