"""Generator output parsing and deterministic repair."""
import pytest

from flowforge.generator.parse import extract_code, parse_workflow, repair
from flowforge.generator.prompt import WORKFLOW
from flowforge.operators import load_operator_set


@pytest.fixture(scope="module")
def opset():
    return load_operator_set("default")


def test_extract_prefers_block_with_solve():
    raw = "Here:\n```python\nx = 1\n```\nand\n```python\nasync def solve(problem, ops):\n    return problem\n```"
    assert extract_code(raw).startswith("async def solve")


def test_extract_unterminated_block():
    raw = "```python\nasync def solve(problem, ops):\n    return problem\n"
    assert "return problem" in extract_code(raw)


def test_repair_adds_async_and_await(opset):
    raw = "def solve(problem, ops):\n    r = ops.answer_generate(input=problem)\n    return r['answer']\n"
    parsed = parse_workflow(raw, opset)
    assert parsed.valid, parsed.error
    assert "async def solve" in parsed.source
    assert "await ops.answer_generate" in parsed.source
    assert set(parsed.repairs) >= {"missing async", "missing await"}


def test_repair_keeps_awaited_calls_single(opset):
    code = "async def solve(problem, ops):\n    r = await ops.answer_generate(input=problem)\n    return r['answer']"
    fixed, repairs = repair(code)
    assert "await await" not in fixed and "missing await" not in repairs


def test_repair_dedents_and_drops_truncated_tail(opset):
    raw = ("```python\n    async def solve(problem, ops):\n        r = await ops.answer_generate(input=problem)\n"
           "        return r['answer']\n        x = ops.generate(instruction=\"")
    parsed = parse_workflow(raw, opset)
    assert parsed.valid, parsed.error
    assert {"indentation", "truncated tail"} <= set(parsed.repairs)


def test_a_syntax_error_before_the_last_line_is_reported_not_cut_away(opset):
    raw = ("```python\nasync def solve(problem, ops):\n    xs = list(range(4, stop=len(problem), 2))\n"
           "    r = await ops.answer_generate(input=problem)\n    return r['answer']\n```")
    parsed = parse_workflow(raw, opset)
    assert not parsed.valid and "truncated tail" not in parsed.repairs
    assert parsed.error.startswith("line 2: syntax error: positional argument follows keyword argument"), parsed.error


def test_invalid_reports_validator_reason(opset):
    parsed = parse_workflow("```python\nimport os\nasync def solve(problem, ops):\n    return os.name\n```", opset)
    assert not parsed.valid
    assert "line 1" in parsed.error


def test_unknown_operator_is_invalid(opset):
    parsed = parse_workflow("async def solve(problem, ops):\n    return await ops.telepathy(x=problem)\n", opset)
    assert not parsed.valid and "telepathy" in parsed.error


def test_no_return_is_invalid(opset):
    src = "async def solve(problem, ops):\n    for _ in range(2):\n        await ops.answer_generate(input=problem)\n"
    parsed = parse_workflow(src, opset)
    assert not parsed.valid and "return" in parsed.error


def test_prompt_mentions_every_operator_and_roundtrips(opset):
    msgs = WORKFLOW.messages("Grade-school math word problems.", "a number", opset, ["Tom has 3 apples."])
    user = msgs[-1]["content"]
    for op in opset.operators:
        assert op.name in user
    assert "Example problem 1: Tom has 3 apples." in user
    src = "async def solve(problem, ops):\n    return problem\n"
    assert WORKFLOW.parse(WORKFLOW.target(src), opset).source.strip() == src.strip()


def test_repair_signature_and_missing_return(opset):
    raw = ("async def solve(question: str, ops=None) -> str:\n"
           "    r = await ops.answer_generate(input=question)\n"
           "    answer = r['answer']\n")
    parsed = parse_workflow(raw, opset)
    assert parsed.valid, parsed.error
    assert "async def solve(problem, ops):" in parsed.source and "input=problem" in parsed.source
    assert parsed.source.rstrip().endswith("return answer")
    assert {"signature", "missing return"} <= set(parsed.repairs)


def test_repair_adds_missing_ops_param_and_returns_last_await(opset):
    parsed = parse_workflow("async def solve(problem):\n    await ops.format(solution=problem)\n", opset)
    assert parsed.valid, parsed.error
    assert "return await ops.format" in parsed.source


def test_signature_with_extra_params_is_not_guessed(opset):
    parsed = parse_workflow("async def solve(a, b, c):\n    return a\n", opset)
    assert not parsed.valid and "signature" in parsed.error


def test_string_key_on_a_str_result_is_repaired_to_the_text():
    from flowforge.operators import load_operator_set

    raw = ("```python\nasync def solve(problem, ops):\n"
           "    r = await ops.generate(instruction='Solve.', input=problem)\n"
           "    x = await ops.extract(text=r['answer'], kind='number')\n"
           "    return x['answer']\n```")
    p = parse_workflow(raw, load_operator_set("default"))
    assert p.valid, p.error
    assert "string key on a str" in p.repairs
    assert "text=r," in p.source and "return x\n" in p.source and "['answer']" not in p.source
    keep = raw.replace("ops.generate(instruction='Solve.', input=problem)", "ops.answer_generate(input=problem)")
    p = parse_workflow(keep, load_operator_set("default"))  # a dict result keeps its key; the str one is repaired
    assert p.valid and "r['answer']" in p.source and "return x\n" in p.source
