"""Scorers: known positive and negative cases for each, plus answer extraction."""
import math

import pytest

from flowforge.answers import code, last_boxed, last_number, normalize
from flowforge.errors import SandboxError
from flowforge.tasks import scorers
from flowforge.tasks.scorers import (
    f1, score_bbh_exact, score_code_tests, score_drop_f1, score_exact_match, score_f1, score_last_number,
    score_math_equiv,
)
from flowforge.types import ExecResult, Instance


def inst(ref, problem="q"):
    return Instance("x", problem, ref)


@pytest.mark.parametrize("text,value", [
    ("The answer is 72.", "72"), ("$1,234.50 in total", "1234.50"), ("so 18.0", "18"), ("-7 degrees", "-7"),
    ("First 3, then 5, finally 12", "12"), ("#### 42\nchecked with 7", "42"), ("\\boxed{9} (2 steps)", "9"),
    ("half is 1/2", "1/2"), ("no digits here", None),
])
def test_last_number(text, value):
    assert last_number(text) == value


@pytest.mark.parametrize("answer,ref,ok", [
    ("Natalia sold 72 clips.", "72", 1.0), ("$1,080", "1080", 1.0), ("It is 5.0", "5", 1.0),
    ("The answer is 71", "72", 0.0), ("seventy-two", "72", 0.0), ("72 then 73", "72", 0.0),
    ("", "3", 0.0),
])
def test_score_last_number(answer, ref, ok):
    assert score_last_number(answer, inst(ref)).value == ok


def test_last_boxed_nested():
    assert last_boxed(r"a \boxed{1} then \boxed{\frac{1}{2}}.") == r"\frac{1}{2}"
    assert last_boxed("no box") is None


@pytest.mark.parametrize("answer,ref,ok", [
    (r"So $x = \boxed{0.5}$", r"\frac{1}{2}", 1.0),
    (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}", 1.0),
    (r"\boxed{\dfrac{3}{4}}", r"\frac34", 1.0),
    (r"\boxed{2\sqrt{2}}", r"\sqrt{8}", 1.0),
    ("no box, but the result is 23", "23", 1.0),
    (r"\boxed{\frac{1}{3}}", r"\frac{1}{2}", 0.0),
    (r"\boxed{24}", "23", 0.0),
    ("I do not know", "23", 0.0),
])
def test_score_math_equiv(answer, ref, ok):
    assert score_math_equiv(answer, inst(ref)).value == ok


def test_score_math_equiv_off_main_thread():
    """math-verify's signal timeouts only work on the main thread; runtimes score in threads."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as ex:
        assert ex.submit(score_math_equiv, r"\boxed{0.5}", inst(r"\frac{1}{2}")).result().value == 1.0


def test_normalize_and_f1():
    assert normalize("The  Eiffel Tower!") == "eiffel tower"
    assert f1("Eiffel Tower", "the Eiffel Tower") == 1.0
    assert f1("Paris", "London") == 0.0
    assert f1("New York City", "York") == pytest.approx(0.5)


def test_score_f1_and_em_extract_final_answer():
    s = score_f1("Let me think. Nick Park made it.\nThe answer is: Creature Comforts.", inst("Creature Comforts"))
    assert s.value == 1.0 and s.metadata["em"] == 1.0
    assert score_f1("Wallace and Gromit", inst("Creature Comforts")).value == 0.0
    assert score_exact_match("Answer: the Beatles", inst("Beatles")).value == 1.0
    assert score_exact_match("Beatles and Stones", inst("Beatles")).value == 0.0


def test_score_drop_best_over_references():
    assert score_drop_f1("83", inst("83")).value == 1.0
    assert score_drop_f1("Volquin von Winterstein", inst("Volquin von Winterstein|Volquin")).value == 1.0
    assert score_drop_f1("The answer is 4", inst("3|4")).value == 1.0
    assert score_drop_f1("5", inst("3|4")).value == 0.0
    assert 0 < score_drop_f1("a 22-yard field goal", inst("22-yard field goal and 36-yard|x")).value < 1


@pytest.mark.parametrize("answer,target,ok", [
    ("(B)", "(B)", 1), ("B", "(B)", 1), ("The answer is (B).", "(B)", 1), ("b) the second", "(B)", 1),
    ("(A)", "(B)", 0), ("Both (A) and (B) are plausible\nbut I pick A", "(B)", 0),
    ("False", "False", 1), ("false.", "False", 1), ("So the answer is True.", "False", 0),
    ("No, because the event was not intended.", "No", 1), ("Not sure", "No", 0),
    ("valid", "invalid", 0), ("invalid", "invalid", 1),
    ("The answer is -35.", "-35", 1), ("35", "-35", 0),
    ("] )", "] )", 1), ("]  )", "] )", 1), (") ]", "] )", 0),
])
def test_score_bbh_exact(answer, target, ok):
    assert score_bbh_exact(answer, inst(target)).value == ok


def test_score_bbh_option_text():
    problem = "Which is sarcastic?\nOptions:\n(A) He is kind\n(B) Oh great, another Monday"
    assert score_bbh_exact("Oh great, another Monday", inst("(B)", problem)).value == 1
    assert score_bbh_exact("He is kind", inst("(B)", problem)).value == 0


def test_code_extraction():
    text = "Here:\n```python\ndef helper():\n    pass\n```\nand\n```python\ndef add(a, b):\n    return a + b\n```"
    assert code(text, "add") == "def add(a, b):\n    return a + b"
    assert code(text, None) == "def add(a, b):\n    return a + b"  # no name: the longest block
    assert code("def add(a, b): return a+b", "add") == "def add(a, b): return a+b"
    assert code("Sure:\ndef add(a, b): return a+b", "add") == "def add(a, b): return a+b"
    assert code("```python\ndef add(a, b):\n    return 1\n", "add").startswith("def add")
    assert code("```\n    return x + 1\n```", "inc") == "    return x + 1"  # a completion keeps its indent


# ---- code scorer: the sandbox contract -----------------------------------------------------

CODE_REF = {"tests": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"], "entry_point": "add"}


def test_code_scorer_propagates_sandbox_error(monkeypatch):
    import flowforge.sandbox as sb

    def broken(*a, **k):
        raise SandboxError("namespaces unavailable")

    monkeypatch.setattr(sb, "run_tests", broken, raising=False)
    with pytest.raises(SandboxError):
        score_code_tests("def add(a, b):\n    return a + b", inst(CODE_REF))


def test_code_scorer_passes_program_and_tests(monkeypatch):
    import flowforge.sandbox as sb

    seen = {}

    def fake(program, tests, *, entry_point=None, setup="", limits=None):
        seen.update(program=program, tests=tests, entry_point=entry_point, setup=setup)
        return ExecResult(False, error="AssertionError", message="assert add(-1, 1) == 0", result={"passed": 1, "total": 2})

    monkeypatch.setattr(sb, "run_tests", fake, raising=False)
    s = score_code_tests("```python\ndef add(a, b):\n    return abs(a) + b\n```", inst(CODE_REF))
    assert s.value == 0.0 and s.metadata["passed"] == 1 and "add(-1, 1)" in s.explanation
    assert seen["entry_point"] == "add" and seen["tests"] == CODE_REF["tests"]
    assert seen["program"].startswith(scorers.CODE_PRELUDE) and "```" not in seen["program"]
    assert seen["setup"] == scorers.CODE_PRELUDE  # the tests' process gets the same imports


@pytest.mark.integration
def test_code_scorer_real_sandbox():
    assert score_code_tests("def add(a, b):\n    return a + b", inst(CODE_REF)).value == 1.0
    assert score_code_tests("def add(a, b):\n    return a - b", inst(CODE_REF)).value == 0.0
    assert score_code_tests("def add(a, b):\n    while True: pass", inst(CODE_REF)).value == 0.0
    assert not math.isnan(score_code_tests("syntax error (", inst(CODE_REF)).value)


@pytest.mark.integration
def test_canonical_solutions_pass_hidden_tests():
    """The bundled reference solutions score 1 and an empty function scores 0 (loader + scorer)."""
    import json

    from flowforge.tasks import get_task
    from flowforge.tasks.builtin import DATA

    for name, n in (("mbpp", 5), ("humaneval", 5)):
        task = get_task(name)
        rows = [json.loads(l) for l in (DATA / name / "test.jsonl").read_text().splitlines()[:n]]
        for row, i in zip(rows, task.load("test", limit=n)):
            code = row["code"] if name == "mbpp" else row["prompt"] + row["canonical_solution"]
            assert task.score(code, i).value == 1.0, (name, i.id)
            assert task.score(f"def {i.context['entry_point']}(*a):\n    return None", i).value == 0.0
    task = get_task("humaneval")  # a completion-style answer (body only) is joined to the prompt
    row = json.loads((DATA / "humaneval" / "test.jsonl").read_text().splitlines()[0])
    assert task.score(row["canonical_solution"], task.load("test", limit=1)[0]).value == 1.0


# ---- one answer-parsing module, linear on hostile text ------------------------------------------


@pytest.mark.parametrize("text", [
    "\n" * 200_000,
    "```python\n" + " " * 1_500_000,
    "``` " + " " * 1_500_000 + "x",
    "Answer:" + " " * 1_500_000 + "\n",
    "answer:answer:" * 100_000,
    "answer is " * 200_000,
    "1," * 500_000,
    "\\boxed{" * 300_000,
    "." * 1_000_000 + "x",
])
def test_parsing_hostile_text_is_fast(text):
    import time

    from flowforge import answers
    from flowforge.tasks.scorers import score_bbh_exact, score_drop_f1

    t0 = time.process_time()  # CPU time: a busy machine must not fail it, a quadratic scan must
    answers.code(text, "f"), answers.code(text), answers.field(text, "answer"), answers.last_line(text)
    answers.last_number(text), answers.final_answer_text(text), answers.vote_key(text), answers.normalize(text)
    score_last_number(text, inst("3")), score_drop_f1(text, inst("3")), score_bbh_exact(text, inst("(A)"))
    assert time.process_time() - t0 < 5  # quadratic scans of these take minutes


def test_operator_and_scorer_agree_on_the_number():
    import asyncio

    from flowforge.operators.tools import extract

    for text in ("so \\boxed{12} and then 7", "#### 1,234\nchecked 9", "costs $5.00 total", "half is 1/2"):
        got = asyncio.run(extract(None, text, "number"))
        assert got == last_number(text)
        assert score_last_number(text, inst(got)).value == 1.0


def test_field_prefers_a_label_at_line_start():
    from flowforge.answers import field

    assert field("The answer: maybe\n**Answer:** 42", "answer") == "42"
    assert field("I think the answer: 7", "answer") == "7"
    assert field("Answer:\n\n  9\n", "answer") == "9"
    assert field("no label", "answer") is None
