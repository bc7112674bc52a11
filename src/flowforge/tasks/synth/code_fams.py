"""Small-function families (MBPP-like): a one-sentence spec whose code pieces (signature, formula,
condition, keys and values) are written in backticks, a required name, two visible tests and hidden
tests. A 135M coder rarely writes even these correctly; the winning composition assembles the
function from the spec's code spans, runs the visible tests, and falls back to writing code."""
from __future__ import annotations

import random
from typing import Any, Callable

from flowforge.tasks.synth.family import Family
from flowforge.types import Instance

VERBS = ["compute", "get", "calc", "find", "score", "rate", "price", "measure"]
NOUNS = ["total", "fee", "cost", "value", "points", "level", "size", "amount", "bonus", "rank"]
ARGS = ["a", "b", "c", "n", "x", "y", "k", "w", "h", "d"]
CODE_FORMAT = "a complete Python program defining the requested function (no tests, no I/O)"


def _name(rng: random.Random) -> str:
    return f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"


def _instance(ep: str, spec: str, fn: Callable[..., Any], inputs: list[tuple], solution: str) -> Instance:
    """reference = {tests, entry_point, solution}; `solution` is a correct program, for tests only."""
    tests = list(dict.fromkeys(f"assert {ep}({', '.join(map(repr, x))}) == {fn(*x)!r}" for x in inputs))
    public = tests[:2]
    problem = f"{spec}\nThe function must be named `{ep}`. Visible tests:\n" + "\n".join(public)
    return Instance("", problem, {"tests": tests, "entry_point": ep, "solution": solution},
                    {"public_tests": public, "entry_point": ep})


# ---- formula_function: return an arithmetic formula of the arguments --------------------------

def _formula(rng: random.Random, args: list[str]) -> str:
    terms = []
    for a in args:
        c = rng.randint(1, 9)
        terms.append(rng.choice([f"{c} * {a}", a, f"{a} * {a}" if rng.random() < 0.3 else f"{a} + {c}"]))
    if len(args) > 1 and rng.random() < 0.4:
        terms.append(" * ".join(args))
    expr = " + ".join(terms)
    return expr.replace("+ -", "- ") if rng.random() < 0.8 else expr + f" - {rng.randint(1, 20)}"


def make_formula_function(rng: random.Random) -> Instance:
    args = rng.sample(ARGS, rng.randint(1, 3))
    expr = _formula(rng, args)
    ep = _name(rng)
    fn = eval(f"lambda {', '.join(args)}: {expr}")  # noqa: S307 - an expression built above from names and ints
    spec = rng.choice(["Write a Python function `{ep}({s})` that returns `{e}`.",
                       "Implement `{ep}({s})`, which computes and returns the value of `{e}`.",
                       "Define a function `{ep}({s})` returning `{e}` for integer inputs."]).format(
        ep=ep, s=", ".join(args), e=expr)
    inputs = [tuple(rng.randint(-20, 50) for _ in args) for _ in range(6)] + [tuple(0 for _ in args)]
    return _instance(ep, spec, fn, inputs, f"def {ep}({', '.join(args)}):\n    return {expr}\n")


# ---- mapping_function: look a key up in a small table given in words --------------------------

KEYS = ["north", "south", "east", "west", "red", "green", "blue", "small", "medium", "large", "gold", "silver",
        "bronze", "spring", "summer", "autumn", "winter"]


def make_mapping_function(rng: random.Random) -> Instance:
    keys = rng.sample(KEYS, rng.randint(2, 5))
    table = {k: rng.randint(1, 99) for k in keys}
    default = rng.choice([0, -1, rng.randint(100, 200)])
    ep = _name(rng)
    pairs = ", ".join(f"`'{k}'` gives `{v}`" for k, v in table.items())
    spec = rng.choice(["Write a Python function `{ep}(key)` that returns a number for a string key: {p}; any other "
                       "key gives `{d}`.", "Implement `{ep}(key)`: {p}. Every other key returns `{d}`."]).format(
        ep=ep, p=pairs, d=default)
    inputs = [(k,) for k in keys] + [(rng.choice(["purple", "tiny", "platinum", "none"]),)]
    rng.shuffle(inputs)
    return _instance(ep, spec, lambda k: table.get(k, default), inputs,
                     f"def {ep}(key):\n    return {table!r}.get(key, {default})\n")


# ---- piecewise_function (held out): one formula above a threshold, another below --------------

def make_piecewise_function(rng: random.Random) -> Instance:
    t, c1, c2, c3 = rng.randint(5, 200), rng.randint(2, 9), rng.randint(1, 30), rng.randint(1, 9)
    hi, lo = f"x * {c1}", f"x + {c2}" if rng.random() < 0.5 else f"{c3}"
    ep = _name(rng)
    fn = eval(f"lambda x: ({hi}) if x > {t} else ({lo})")  # noqa: S307 - built above from ints
    spec = rng.choice(["Write a Python function `{ep}(x)` that returns `{hi}` when `x > {t}`, and `{lo}` "
                       "otherwise.", "Implement `{ep}(x)`: if `x > {t}` return `{hi}`; else return `{lo}`."]).format(
        ep=ep, hi=hi, lo=lo, t=t)
    inputs = [(t + rng.randint(1, 50),), (t - rng.randint(1, 50),), (t,), (t + 1,), (rng.randint(-50, 300),)]
    return _instance(ep, spec, fn, inputs, f"def {ep}(x):\n    return ({hi}) if x > {t} else ({lo})\n")


FAMILIES = [
    Family("formula_function", "code", "code_tests",
           "Small Python functions (like MBPP's simplest problems) that return an arithmetic formula of their "
           "integer arguments, given in the spec in backticks; checked by hidden tests. Two visible tests are given.",
           CODE_FORMAT, make_formula_function, ("find_all", "run_tests")),
    Family("mapping_function", "code", "code_tests",
           "Small Python functions that map a few string keys to numbers, with a default for any other key, as "
           "listed in the spec in backticks; checked by hidden tests. Two visible tests are given.",
           CODE_FORMAT, make_mapping_function, ("find_all", "run_tests")),
    Family("piecewise_function", "code", "code_tests",
           "Small Python functions defined piecewise: one formula when a condition holds and another otherwise, all "
           "in backticks; "
           "checked by hidden tests including the threshold itself. Two visible tests are given.",
           CODE_FORMAT, make_piecewise_function, ("find_all", "run_tests"), heldout=True),
]
