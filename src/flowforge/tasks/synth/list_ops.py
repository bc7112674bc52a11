"""synth/list_ops: write a small Python function that chains list or string transformations,
checked by hidden tests (edge cases included). The spec is easy to misread and easy to check:
a workflow that writes code and runs the visible tests (`run_tests`, then revises) wins over
one that answers in prose or never tests."""
from __future__ import annotations

import random
from typing import Any, Callable

from flowforge.types import Instance

DOMAIN = "code"
SCORER = "code_tests"
WINNING = ["code_generate", "run_tests", "revise"]
DESCRIPTION = ("Small Python functions that chain two or three list or string transformations "
               "(filter, map, sort, dedupe, aggregate) described in words; checked by hidden tests "
               "including edge cases such as empty input. A few visible tests are given.")
ANSWER_FORMAT = "a complete Python program defining the requested function (no tests, no I/O)"

Step = tuple[str, Callable[[Any], Any]]


def _int_steps(rng: random.Random) -> list[Step]:
    k = rng.randint(2, 6)
    filters: list[Step] = [
        ("keeps only the even numbers", lambda xs: [x for x in xs if x % 2 == 0]),
        ("keeps only the odd numbers", lambda xs: [x for x in xs if x % 2 != 0]),
        (f"keeps only the numbers greater than {k}", lambda xs: [x for x in xs if x > k]),
        (f"drops every number divisible by {k}", lambda xs: [x for x in xs if x % k != 0]),
        ("removes duplicates, keeping the first occurrence", lambda xs: list(dict.fromkeys(xs))),
    ]
    maps: list[Step] = [
        (f"multiplies each number by {k}", lambda xs: [x * k for x in xs]),
        (f"subtracts {k} from each number", lambda xs: [x - k for x in xs]),
        ("squares each number", lambda xs: [x * x for x in xs]),
        ("replaces each number by its absolute value", lambda xs: [abs(x) for x in xs]),
    ]
    finals: list[Step] = [
        ("returns them sorted in descending order", lambda xs: sorted(xs, reverse=True)),
        ("returns them sorted in ascending order", lambda xs: sorted(xs)),
        ("returns their sum", sum),
        ("returns the largest of them, or None if there are none", lambda xs: max(xs) if xs else None),
        ("returns how many there are", len),
        ("returns them in reverse order", lambda xs: xs[::-1]),
    ]
    steps = [rng.choice(filters), rng.choice(maps)]
    rng.shuffle(steps)
    return steps + [rng.choice(finals)]


def _str_steps(rng: random.Random) -> list[Step]:
    k = rng.randint(2, 5)
    filters: list[Step] = [
        (f"keeps only the words longer than {k} characters", lambda ws: [w for w in ws if len(w) > k]),
        ("drops words that start with a vowel", lambda ws: [w for w in ws if w[:1].lower() not in "aeiou"]),
        ("removes repeated words, keeping the first occurrence", lambda ws: list(dict.fromkeys(ws))),
    ]
    maps: list[Step] = [
        ("reverses the letters of each word", lambda ws: [w[::-1] for w in ws]),
        ("upper-cases each word", lambda ws: [w.upper() for w in ws]),
        ("keeps only the first letter of each word", lambda ws: [w[:1] for w in ws]),
    ]
    finals: list[Step] = [
        ("returns them joined by single spaces", " ".join),
        ("returns them joined by '-'", "-".join),
        ("returns them sorted alphabetically as a list", sorted),
        ("returns how many there are", len),
    ]
    steps = [rng.choice(filters), rng.choice(maps)]
    rng.shuffle(steps)
    return [("splits the string into words on whitespace", str.split)] + steps + [rng.choice(finals)]


WORDS = ["apple", "echo", "tree", "orbit", "sun", "idea", "river", "moon", "umbrella", "stone", "ant", "cloud",
         "sky", "owl", "bread", "ink"]


def _inputs(rng: random.Random, strings: bool) -> list[Any]:
    if strings:
        cases = ["", rng.choice(WORDS)]
        cases += [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) for _ in range(6)]
        return cases
    cases = [[], [rng.randint(-9, 9)]]
    cases += [[rng.randint(-20, 30) for _ in range(rng.randint(3, 9))] for _ in range(6)]
    cases.append(cases[-1] + cases[-1][:3])  # duplicates
    return cases


def make(rng: random.Random) -> Instance:
    strings = rng.random() < 0.4
    steps = _str_steps(rng) if strings else _int_steps(rng)
    verb = rng.choice(["process", "transform", "reduce", "clean", "summarise", "pipeline"])
    ep = f"{verb}_{'text' if strings else 'numbers'}_{rng.randint(10, 99)}"
    arg = "text" if strings else "nums"

    def run(x: Any) -> Any:
        for _, f in steps:
            x = f(x)
        return x

    tests = []
    for x in _inputs(rng, strings):
        t = f"assert {ep}({x!r}) == {run(list(x) if not strings else x)!r}"
        if t not in tests:
            tests.append(t)
    public = [t for t in tests[2:4]]  # two ordinary cases; edge cases stay hidden
    kind = "a string" if strings else "a list of integers"
    how = ", then ".join(d for d, _ in steps)
    problem = (f"Write a Python function `{ep}({arg})` that takes {kind}, {how}.\n"
               f"The function must be named `{ep}`. Visible tests:\n" + "\n".join(public))
    ref = {"tests": tests, "entry_point": ep}
    return Instance("", problem, ref, {"public_tests": public, "entry_point": ep})
