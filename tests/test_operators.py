"""Operator sets (YAML loading, describe/subset/rename/shuffle) and operator behaviour with FakeLLM."""
import random
import time

import pytest

from fakes import FakeLLM
from flowforge.errors import UserError
from flowforge.operators import IMPLS, OpContext, OperatorError, available_sets, load_operator_set
from flowforge.operators import calc, tools
from flowforge.operators import llm_ops


def ctx(llm=None, **context):
    return OpContext(llm=llm or FakeLLM([]), problem="What is 6 times 7?", context=context)


# -- operator sets ---------------------------------------------------------------------------

def test_bundled_sets_load_and_are_consistent():
    assert {"default", "qa", "math", "code", "novel"} <= set(available_sets())
    default = load_operator_set("default")
    assert default.names[:9] == ["generate", "answer_generate", "code_generate", "programmer", "test",
                                 "sc_ensemble", "review", "revise", "format"]
    assert {"calculate", "retrieve", "extract", "vote", "run_tests"} <= set(default.names)
    for name in ("qa", "math", "code"):
        assert set(load_operator_set(name).names) < set(default.names)
    assert all(op.impl in IMPLS for op in default.operators)


def test_describe_is_compact_and_lists_every_signature():
    s = load_operator_set("default")
    text = s.describe()
    assert len(text) < 2200  # ~500 SmolLM2 tokens: the whole generator prompt stays within 800 tokens
    for op in s.operators:
        assert op.shown_signature in text
    assert len(text.splitlines()) == len(s.operators) + 1
    find_all = s.get("find_all")  # listed values are checked, but shown as `str`: the description names them
    assert "find_all(text: str, kind: str) -> list[str]" in text and '"quote"' in find_all.description
    assert find_all.params[1].type.choices == ("number", "name", "quote", "code")


def test_novel_set_renames_everything_and_adds_new_operators():
    novel, default = load_operator_set("novel"), load_operator_set("default")
    assert not set(novel.names) & set(default.names)
    assert {"decompose", "verify"} <= set(novel.names)
    assert "`critique`" in novel.get("improve").description  # cross-reference followed the rename
    assert novel.get("reason").impl == "answer_generate"


def test_renamed_subset_shuffled():
    s = load_operator_set("default")
    r = s.renamed({"review": "judge", "revise": "fix"})
    assert r.get("fix").signature.startswith("fix(solution: str, feedback: str)")
    assert "`judge`" in r.get("fix").description and "answer format" in r.get("format").description
    sub = s.subset(["vote", "calculate"])
    assert sub.names == ["calculate", "vote"]  # set order kept
    with pytest.raises(UserError, match="no operators"):
        s.subset(["nope"])
    a, b = s.shuffled(random.Random(1)), s.shuffled(random.Random(1))
    assert a.names == b.names and sorted(a.names) == sorted(s.names) and a.names != s.names


@pytest.mark.parametrize("body, where", [
    ("name: x\noperators:\n  - {name: a, signature: 'b(input) -> str', description: d, impl: generate}\n",
     "operators[0]"),
    ("name: x\noperators:\n  - {name: a, signature: 'a(input) -> str', description: d, impl: nope}\n",
     "operators[0]"),
    ("name: x\noperators:\n  - {name: a, signature: 'a(x) -> str', description: d, impl: vote}\n",
     "operators[0]"),
    ("name: x\noperators:\n  - {name: a, signature: 'a(answers) -> str', impl: vote}\n",
     "operators[0].description"),
    ("name: x\nextends: default\ninclude: [vote, bogus]\n", "include[1]"),
    ("name: x\nsurprise: 1\n", "surprise"),
])
def test_bad_set_files_name_file_and_field(tmp_path, body, where):
    p = tmp_path / "bad.yaml"
    p.write_text(body)
    with pytest.raises(UserError) as e:
        load_operator_set(p)
    assert str(p) in str(e.value) and where in str(e.value)


def test_unknown_set_lists_available():
    with pytest.raises(UserError, match="available: code, default"):
        load_operator_set("nonexistent")


# -- calculate -------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, value", [
    ("(3 + 4) * 2", "14"), ("7 / 2", "3.5"), ("1,000 / 8", "125"), ("2^10", "1024"),
    ("not ( True ) and ( True ) is", "False"), ("True or not False and True and False", "True"),
    ("((-1 + 2) * 3 - (4 - 5)) =", "4"), ("3 < 4 <= 4", "True"), ("-(-3) % 2", "1"),
])
async def test_calculate_values(expr, value):
    assert await tools.calculate(ctx(), expression=expr) == value


@pytest.mark.parametrize("expr", [
    "__import__('os').system('echo hi')", "open('/etc/passwd')", "().__class__", "x + 1",
    "9**9**9", "2 ** 1000", "10 ** 100 * 10 ** 100", "1 / 0", "[1, 2]", "'a' * 3", "1" * 600,
])
async def test_calculate_rejects_unsafe_or_huge(expr):
    t0 = time.process_time()  # CPU time, so a busy machine does not fail it
    with pytest.raises(OperatorError, match="calculate"):
        await tools.calculate(ctx(), expression=expr)
    assert time.process_time() - t0 < 0.5


def test_calc_does_not_use_eval(monkeypatch):
    import builtins
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: pytest.fail("eval called"))
    assert calc.evaluate("2 * (3 + 4)") == 14


# -- other tools ----------------------------------------------------------------------------

async def test_extract_kinds():
    c = ctx()
    assert await tools.extract(c, text="so she pays $1,250.50 in total", kind="number") == "1250.50"
    assert await tools.extract(c, text="so 3 apples... 12 left", kind="number") == "12"
    expr = await tools.extract(c, text="Evaluate: ((-1 + 2) * 3 - (4 - 5)) =", kind="expression")
    assert await tools.calculate(c, expression=expr) == "4"
    assert await tools.extract(c, text="not ( True ) and ( True ) is", kind="expression") == "not ( True ) and ( True )"
    assert await tools.extract(c, text="I think (A) is wrong, so the answer is (C).", kind="option") == "(C)"
    assert await tools.extract(c, text="blah\nAnswer: Paris.", kind="span") == "Paris"
    assert await tools.extract(c, text="no digits", kind="number") == ""
    with pytest.raises(OperatorError, match="kind"):
        await tools.extract(c, text="x", kind="colour")


async def test_vote_majority_after_normalising():
    assert await tools.vote(ctx(), answers=["12", " 7 ", "7.", "12.0", "7"]) == " 7 "
    assert await tools.vote(ctx(), answers=["a", "b"]) == "a"  # tie: earliest
    with pytest.raises(OperatorError):
        await tools.vote(ctx(), answers=[])


async def test_retrieve_bm25_over_instance_passages():
    passages = ["The Eiffel Tower is in Paris.", "Bananas are yellow.", "Paris is the capital of France."]
    c = ctx(passages=passages)
    top = await tools.retrieve(c, query="What colour are bananas?", k=1)
    assert top == ["Bananas are yellow."]
    assert len(await tools.retrieve(c, query="Paris", k=10)) == 3
    assert await tools.retrieve(ctx(), query="anything") == []


# -- LLM operators with a fake executor -----------------------------------------------------

async def test_answer_generate_parses_answer_and_falls_back():
    llm = FakeLLM(["6 times 7 is 42.\nAnswer: 42", "It is 6*7 = 42 apples"])
    r = await llm_ops.answer_generate(ctx(llm, answer_format="a number"), input="What is 6 times 7?")
    assert r == {"thought": "6 times 7 is 42.", "answer": "42"}
    assert "Answer: <answer>" in llm.calls[0]["messages"][0]["content"]
    assert "a number" in llm.calls[0]["messages"][0]["content"]
    r = await llm_ops.answer_generate(ctx(llm, domain="math"), input="q")
    assert r["answer"] == "42"


async def test_ask_applies_token_cap_temperature_and_seed():
    llm = FakeLLM(["x"])
    c = OpContext(llm=llm, problem="p", temperature=0.8, seed=3, max_tokens=5)
    await llm_ops.generate(c, instruction="i", input="p")
    assert llm.calls[0]["max_tokens"] == 5 and llm.calls[0]["temperature"] == 0.8 and llm.calls[0]["seed"] == 3
    assert c.usage.calls == 1


async def test_sc_ensemble_letter_and_fallbacks():
    assert await llm_ops.sc_ensemble(ctx(FakeLLM(["(B)"])), solutions=["1", "2", "3"]) == "2"
    assert await llm_ops.sc_ensemble(ctx(FakeLLM(["dunno"])), solutions=["1", "2", "2"]) == "2"
    assert await llm_ops.sc_ensemble(ctx(FakeLLM([])), solutions=["5", "5."]) == "5"  # agree: no call


async def test_review_revise_format_decompose_verify():
    r = await llm_ops.review(ctx(FakeLLM(["Verdict: no\nFeedback: 6*7 is 42, not 41."])), solution="41")
    assert r == {"ok": False, "feedback": "6*7 is 42, not 41."}
    assert (await llm_ops.review(ctx(FakeLLM(["Yes, it is correct."])), solution="42"))["ok"] is True
    assert await llm_ops.revise(ctx(FakeLLM([" fixed\nAnswer: 42 "])), solution="41", feedback="f") == "fixed\nAnswer: 42"
    assert await llm_ops.format(ctx(FakeLLM([])), solution="42") == "42"  # already bare: no call
    assert await llm_ops.format(ctx(FakeLLM(["42\n\nmore words"])), solution="long\nreasoning") == "42"
    code = await llm_ops.format(ctx(FakeLLM([]), domain="code", entry_point="f"), solution="```python\ndef f():\n    return 1\n```")
    assert code == "def f():\n    return 1"
    steps = await llm_ops.decompose(ctx(FakeLLM(["1. How many?\n2) What total?\n"])), problem="p")
    assert steps == ["How many?", "What total?"]
    v = await llm_ops.verify(ctx(FakeLLM(["Verdict: yes\nReason: checks out"])), problem="p", answer="42")
    assert v == {"ok": True, "reason": "checks out"}


def test_cli_operators_lists_sets_and_one_set():
    from typer.testing import CliRunner

    from flowforge.cli import app

    r = CliRunner().invoke(app, ["operators"])
    assert r.exit_code == 0 and "novel" in r.output and "run_tests" in r.output
    r = CliRunner().invoke(app, ["operators", "novel"])
    assert r.exit_code == 0 and "decompose(problem: str)" in r.output


def test_cli_run_rejects_invalid_workflow_before_loading_anything(tmp_path):
    from typer.testing import CliRunner

    from flowforge.cli import app
    from flowforge.errors import UserError

    wf = tmp_path / "w.py"
    wf.write_text("async def solve(problem, ops):\n    return await ops.nope(x=1)\n")
    r = CliRunner().invoke(app, ["run", str(wf), "--task", "gsm8k", "--out", str(tmp_path / "o")])
    msg = str(r.exception)
    assert isinstance(r.exception, UserError) and f"{wf}: line 2:" in msg and "[unknown-operator]" in msg
    assert not (tmp_path / "o").exists()
