"""Built-in benchmark tasks over the bundled data (flowforge/data, see its LICENSES.md).

Each dataset has one row converter (row -> Instance); the table at the bottom says which
splits each task exposes (ARCHITECTURE.md "Evaluation protocol"). Problems follow AFlow: DROP and
HotpotQA pass the whole passage + question as the problem, and also bind the passages for
`retrieve`; code tasks bind the visible tests and the entry point.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from flowforge.tasks.jsonl import count_rows, field, read_jsonl
from flowforge.tasks.scorers import last_boxed
from flowforge.tasks.task import Task
from flowforge.types import Instance

DATA = Path(__file__).resolve().parent.parent / "data"

Row = dict[str, Any]
Convert = Callable[[Row, str, int], Instance]  # (row, path, line) -> Instance


def split_sentences(text: str) -> list[str]:
    """Sentence chunks for retrieval (a plain regex; good enough for BM25 over one passage)."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", text.strip())
    return [p.strip() for p in parts if p.strip()]


# ---- row converters ---------------------------------------------------------------------


def _gsm8k(row: Row, path: str, line: int) -> Instance:
    answer = str(field(row, "answer", path, line))
    ref = answer.rsplit("####", 1)[1].strip().replace(",", "") if "####" in answer else answer.strip()
    return Instance("", field(row, "question", path, line), ref)


def _math(row: Row, path: str, line: int) -> Instance:
    ref = last_boxed(field(row, "solution", path, line))
    if ref is None:
        from flowforge.errors import DataError

        raise DataError(f"{path}:{line}: solution has no \\boxed{{}} answer")
    return Instance("", field(row, "problem", path, line), ref)


def _norm_test(t: str) -> str:
    return "".join(t.split())


@lru_cache(maxsize=None)
def _mbpp_public() -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    path = DATA / "mbpp" / "public_test.jsonl"
    for line, row in read_jsonl(path):
        out.setdefault(field(row, "entry_point", path, line), []).append(list(field(row, "test", path, line)))
    return out


def mbpp_public_tests(entry_point: str, hidden: list[str]) -> list[str]:
    """Visible tests for an MBPP problem, linked by entry point. The AFlow file mangles some
    `set(` calls into `candidate(`, and a few entry points are shared by two problems, so each
    visible test is repaired and kept only if it is one of this problem's own tests."""
    ep = entry_point
    own = {_norm_test(t): t for t in hidden}
    kept: list[str] = []
    for tests in _mbpp_public().get(ep, []):
        for t in tests:
            fixed = t.replace("candidate(", f"{ep}(") if f"{ep}(" not in t else t.replace("candidate(", "set(")
            match = own.get(_norm_test(fixed))
            if t.strip() and match and match not in kept:
                kept.append(match)
    return kept


def _mbpp(row: Row, path: str, line: int) -> Instance:
    ep = field(row, "entry_point", path, line)
    hidden = list(field(row, "test_list", path, line))
    public = mbpp_public_tests(ep, hidden)
    problem = field(row, "prompt", path, line).rstrip() + f"\n\nThe function must be named `{ep}`."
    if public:
        problem += " It must pass tests like:\n" + "\n".join(public)
    ref = {"tests": hidden, "entry_point": ep, "imports": list(row.get("test_imports") or [])}
    return Instance("", problem, ref, {"public_tests": public, "entry_point": ep})


@lru_cache(maxsize=None)
def _humaneval_public() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    path = DATA / "humaneval" / "public_test.jsonl"
    for line, row in read_jsonl(path):
        out[str(field(row, "problem_id", path, line)).replace("_", "/")] = list(field(row, "test", path, line))
    return out


def _humaneval(row: Row, path: str, line: int) -> Instance:
    ep = field(row, "entry_point", path, line)
    prompt = field(row, "prompt", path, line)
    pid = str(field(row, "task_id", path, line)).replace("_", "/")
    public = [re.sub(r"\bcandidate\(", f"{ep}(", t) for t in _humaneval_public().get(pid, []) if t.strip()]
    problem = prompt.strip("\n") + f"\n\n# Complete the function `{ep}` (return the whole program)."
    test = field(row, "test", path, line) + f"\n\ncheck({ep})\n"
    ref = {"tests": [test], "entry_point": ep, "prompt": prompt}
    return Instance("", problem, ref, {"public_tests": public, "entry_point": ep})


def _drop(row: Row, path: str, line: int) -> Instance:
    text = str(field(row, "context", path, line)).strip()
    text = re.sub(r"\s*Answer:\s*$", "", text)
    passage = text.split("\nQuestion:", 1)[0].removeprefix("Passage:").strip()
    return Instance("", text, str(field(row, "ref_text", path, line)), {"passages": split_sentences(passage)})


def _hotpotqa(row: Row, path: str, line: int) -> Instance:
    paras = [f"{title}: {''.join(sents).strip()}" for title, sents in field(row, "context", path, line)]
    question = field(row, "question", path, line)
    problem = "Context:\n" + "\n".join(paras) + f"\n\nQuestion: {question}"
    return Instance("", problem, str(field(row, "answer", path, line)), {"passages": paras})


def _bbh(row: Row, path: str, line: int) -> Instance:
    return Instance("", field(row, "input", path, line), str(field(row, "target", path, line)))


# ---- split wiring -------------------------------------------------------------------------

# split -> (file, first row fraction, last row fraction)
Splits = dict[str, tuple[Path, float, float]]


def _rows_of(path: Path, lo: float, hi: float) -> tuple[int, int]:
    n = count_rows(path)
    return int(n * lo), int(n * hi)


def file_task(name: str, convert: Convert, splits: Splits, **kw: Any) -> Task:
    """A Task whose splits are (fractions of) bundled JSONL files. Instance ids are
    `<file stem>-<row index in file>`, stable whatever the slicing."""

    def sizes() -> dict[str, int]:
        return {s: (lambda a, b: b - a)(*_rows_of(p, lo, hi)) for s, (p, lo, hi) in splits.items()}

    def loader(split: str, start: int, stop: int) -> list[Instance]:
        path, lo, hi = splits[split]
        rows = read_jsonl(path)
        first = int(len(rows) * lo)
        out = []
        for k in range(first + start, first + stop):
            line, row = rows[k]
            inst = convert(row, str(path), line)
            inst.id = f"{path.stem}-{k}"
            out.append(inst)
        return out

    return Task(name=name, sizes=sizes, loader=loader, source=str(next(iter(splits.values()))[0].parent), **kw)


def _whole(folder: str, *names: str) -> Splits:
    return {n: (DATA / folder / f"{n}.jsonl", 0.0, 1.0) for n in names}


CODE_FORMAT = "a complete Python program defining the requested function (no tests, no I/O)"

BUILTIN: dict[str, Callable[[], Task]] = {
    "gsm8k": lambda: file_task(
        "gsm8k", _gsm8k, _whole("gsm8k", "train", "validate", "test"), domain="math", scorer="last_number",
        description="Grade-school math word problems: a short story with quantities, prices, rates or "
        "times, solved by a few steps of arithmetic. The answer is a single number.",
        answer_format="a single number (no units)", train_splits=["train"]),
    "math": lambda: file_task(
        "math", _math, _whole("math", "validate", "test"), domain="math", scorer="math_equiv",
        description="Competition mathematics (MATH, hardest level): algebra, counting and probability, "
        "geometry, number theory, precalculus. Answers are exact expressions, often fractions, "
        "radicals or intervals, written in LaTeX.",
        answer_format="the final answer in LaTeX inside \\boxed{}", train_splits=["validate"]),
    "mbpp": lambda: file_task(
        "mbpp", _mbpp, _whole("mbpp", "validate", "test"), domain="code", scorer="code_tests",
        description="Short Python programming problems: a one-sentence specification of a function with "
        "its required name; correctness is checked by hidden assert tests. Some visible tests are given.",
        answer_format=CODE_FORMAT, train_splits=["validate"]),
    "humaneval": lambda: file_task(
        "humaneval", _humaneval, _whole("humaneval", "test"), domain="code", scorer="code_tests",
        description="Python function completion: a signature with a docstring describing behaviour and "
        "examples; correctness is checked by hidden unit tests.",
        answer_format=CODE_FORMAT, heldout=True),
    "drop": lambda: file_task(
        "drop", _drop, _whole("drop", "validate", "test"), domain="qa", scorer="drop_f1",
        description="Reading comprehension with discrete reasoning: a passage (often sports or history) "
        "and a question that needs counting, comparing, adding or subtracting facts from it. The answer "
        "is a number, a date or a short span from the passage.",
        answer_format="a short answer: a number, date or span of the passage", train_splits=["validate"]),
    "hotpotqa": lambda: file_task(
        "hotpotqa", _hotpotqa, {"test": (DATA / "hotpotqa" / "validate.jsonl", 0.0, 1.0)}, domain="qa",
        scorer="f1",
        description="Multi-hop question answering: several titled paragraphs, most of them distractors, "
        "and a question whose answer needs facts from two of them. The answer is a short span.",
        answer_format="a short span (a name, date, number or yes/no)", heldout=True),
}

# BBH: name -> (description, answer format). Train tasks split 60/40; held-out ones expose all rows as test.
BBH_HELDOUT = {"boolean_expressions", "dyck_languages", "geometric_shapes", "hyperbaton", "ruin_names",
               "temporal_sequences", "tracking_shuffled_objects_seven_objects"}
_OPT = "one of the options, as its letter in parentheses, e.g. (A)"
BBH: dict[str, tuple[str, str]] = {
    "boolean_expressions": ("Evaluate a Boolean expression built from True, False, not, and, or and "
                            "parentheses.", "True or False"),
    "causal_judgement": ("Read a short story about events and agents and answer how a typical person "
                         "would judge a question of causation.", "Yes or No"),
    "disambiguation_qa": ("Decide what a pronoun in a sentence refers to, or whether it is ambiguous.", _OPT),
    "dyck_languages": ("Complete a sequence of brackets of several kinds so that every bracket is "
                       "properly closed.", "the closing brackets only, separated by spaces"),
    "formal_fallacies": ("Decide whether an argument stated in natural language is deductively valid "
                         "given its explicit premises.", "valid or invalid"),
    "geometric_shapes": ("Name the shape drawn by an SVG path element.", _OPT),
    "hyperbaton": ("Choose the sentence whose adjectives follow the standard English order.", _OPT),
    "logical_deduction_three_objects": ("Order three objects from a few clues about their relative "
                                        "positions, then pick the true statement.", _OPT),
    "logical_deduction_seven_objects": ("Order seven objects from clues about their relative positions, "
                                        "then pick the true statement.", _OPT),
    "movie_recommendation": ("Given movies someone liked, pick the option most similar to them.", _OPT),
    "multistep_arithmetic_two": ("Evaluate a nested arithmetic expression of integers with +, -, * "
                                 "and parentheses.", "an integer"),
    "reasoning_about_colored_objects": ("Answer a question about the colours, counts and positions of "
                                        "objects described in a sentence.", _OPT),
    "ruin_names": ("Pick the humorous one-character edit of an artist or movie name.", _OPT),
    "salient_translation_error_detection": ("Classify the kind of error in an English translation of a "
                                            "German sentence.", _OPT),
    "snarks": ("Pick which of two nearly identical statements is sarcastic.", _OPT),
    "temporal_sequences": ("From a person's schedule of sightings, find when they could have gone "
                           "somewhere.", _OPT),
    "tracking_shuffled_objects_three_objects": ("Track which object each of three people holds after a "
                                                "series of pairwise swaps.", _OPT),
    "tracking_shuffled_objects_five_objects": ("Track which object each of five people holds after a "
                                               "series of pairwise swaps.", _OPT),
    "tracking_shuffled_objects_seven_objects": ("Track which object each of seven people holds after a "
                                                "series of pairwise swaps.", _OPT),
}


def bbh_task(sub: str) -> Task:
    desc, fmt = BBH[sub]
    path = DATA / "bbh" / f"{sub}.jsonl"
    held = sub in BBH_HELDOUT
    splits = {"test": (path, 0.0, 1.0)} if held else {"train": (path, 0.0, 0.6), "test": (path, 0.6, 1.0)}
    return file_task(f"bbh/{sub}", _bbh, splits, domain="reasoning", scorer="bbh_exact",
                     description=f"BIG-Bench Hard: {desc}", answer_format=fmt, heldout=held,
                     train_splits=[] if held else ["train"])


for _sub in BBH:
    BUILTIN[f"bbh/{_sub}"] = lambda s=_sub: bbh_task(s)
