"""The workflow whitelist: reference workflows pass; each forbidden construct fails with its
line number and rule id. Also the operator-graph renderer."""
from pathlib import Path

import pytest

from flowforge.errors import WorkflowError
from flowforge.operators import load_operator_set
from flowforge.workflow import operators_used, validate_workflow, workflow_errors
from flowforge.workflow.graph import to_dot, to_mermaid
from flowforge.workflow.reference import REFERENCE_DIR, reference_names

WORKFLOWS = [REFERENCE_DIR / f"{n}.py" for n in reference_names()]
DEFAULT = load_operator_set("default")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_reference_workflows_validate(path):
    validate_workflow(path.read_text(), DEFAULT)


def test_reference_workflow_files_exist():
    assert {p.name for p in WORKFLOWS} >= {"io.py", "cot.py", "cot_sc.py", "self_refine.py",
                                           "programmer_sc.py", "code_test.py", "retrieve_answer.py"}


def wf(*lines: str, header: str = "") -> str:
    return header + "async def solve(problem, ops):\n" + "".join(f"    {ln}\n" for ln in lines)


@pytest.mark.parametrize("source, line, rule, text", [
    ("import os\n" + wf("return problem"), 1, "import", "imports"),
    (wf("from os import path", "return problem"), 2, "import", "imports"),
    (wf("x = problem.__class__", "return x"), 2, "dunder", "__class__"),
    (wf("x = __builtins__", "return x"), 2, "dunder", "__builtins__"),
    (wf("x = f'{problem.__class__}'", "return x"), 2, "dunder", "__class__"),
    (wf("r = await ops.answr_generate(input=problem)", "return r"), 2, "unknown-operator", "did you mean answer_generate"),
    (wf("x = 0", "while True:", "    x = await ops.generate(instruction='a', input=problem)", "return x"),
     3, "unbounded-while", "range"),
    (wf("n = 0", "while n < 3:", "    problem = problem + '!'", "return problem"), 3, "unbounded-while", "never changes"),
    (wf("f = open('/etc/passwd')", "return f"), 2, "unknown-name", "`open`"),
    (wf("g = getattr(ops, 'generate')", "return g"), 2, "unknown-name", "`getattr`"),
    (wf("return problem.encode()"), 2, "attribute", ".encode"),
    (wf("return problem.upper"), 2, "attribute", ".upper"),
    (wf("return '{0.__class__}'.format(problem)"), 2, "attribute", ".format"),
    (wf("r = await ops.answer_generate(problem)", "return r"), 2, "operator-args", "keyword"),
    (wf("r = await ops.answer_generate(inp=problem)", "return r"), 2, "operator-args", "no argument `inp`"),
    (wf("r = await ops.revise(solution=problem)", "return r"), 2, "operator-args", "missing feedback"),
    (wf("r = ops.answer_generate(input=problem)", "return r"), 2, "await", "must be awaited"),
    (wf("x = await problem", "return x"), 2, "await", "only applies"),
    (wf("f = ops", "return f"), 2, "ops-usage", "ops"),
    (wf("try:", "    r = await ops.calculate(expression=problem)", "except:", "    r = ''", "return r"),
     4, "except-form", "except Exception"),
    (wf("try:", "    r = 1", "except ValueError:", "    r = 2", "return r"), 4, "except-form", "except Exception"),
    (wf("f = lambda x: x", "return f(problem)"), 2, "forbidden", "lambda"),
    (wf("def g():", "    return 1", "return g()"), 2, "forbidden", "nested def"),
    (wf("global x", "return problem"), 2, "forbidden", "global"),
    (wf("raise ValueError('x')"), 2, "forbidden", "raise"),
    (wf("with problem as p:", "    pass", "return p"), 2, "forbidden", "with"),
    (wf("return problem +"), 2, "syntax", "syntax error"),
    ("x = 1\n" + wf("return problem"), 1, "module-level", "only"),
    ("def solve(problem, ops):\n    return problem\n", 1, "signature", "async def"),
    ("async def solve(problem, ops, extra):\n    return problem\n", 1, "signature", "exactly"),
    ("async def solve(problem: str, ops):\n    return problem\n", 1, "signature", "exactly"),
    ("async def main(problem, ops):\n    return problem\n", 1, "module-level", "only"),
])
def test_rejections_name_line_and_rule(source, line, rule, text):
    with pytest.raises(WorkflowError) as e:
        validate_workflow(source, DEFAULT)
    assert (e.value.line, e.value.rule) == (line, rule), str(e.value)
    assert text in str(e.value)
    assert f"line {line}: " in str(e.value) and f"[{rule}]" in str(e.value)


def test_missing_solve_and_all_errors_listed():
    with pytest.raises(WorkflowError) as e:
        validate_workflow('"""doc"""\n', DEFAULT)
    assert e.value.rule == "signature"
    errs = workflow_errors("import os\n" + wf("x = problem.__dict__", "return open(x)"), DEFAULT)
    assert [(x.line, x.rule) for x in errs] == [(1, "import"), (3, "dunder"), (4, "unknown-name")]


def test_allowed_constructs():
    src = wf(
        '"""Everything the whitelist allows."""',
        "parts = [p.strip() for p in problem.split('.') if p]",
        "rs = await gather(*[ops.answer_generate(input=p) for p in parts[:3]])",
        "answers = {i: r.get('answer', '') for i, r in enumerate(rs)}",
        "best = ''",
        "for k, v in sorted(answers.items()):",
        "    if len(v) > len(best) and not v.startswith('x'):",
        "        best = v",
        "tries = 0",
        "while tries < 2:",
        "    tries += 1",
        "try:",
        "    best = await ops.calculate(expression=best)",
        "except Exception as e:",
        "    best = f'{best} ({str(e)[:20]})'",
        "return (await ops.format(solution=best)) if best else str(max(1, 2))",
    )
    tree = validate_workflow(src, DEFAULT)
    assert operators_used(tree) == ["answer_generate", "calculate", "format"]


def test_operators_checked_against_the_active_set():
    src = wf("r = await ops.reason(input=problem)", "return r['answer']")
    validate_workflow(src, load_operator_set("novel"))
    with pytest.raises(WorkflowError) as e:
        validate_workflow(src, DEFAULT)
    assert e.value.rule == "unknown-operator"
    math_only = wf("r = await ops.retrieve(query=problem)", "return r")
    validate_workflow(math_only, load_operator_set("qa"))
    with pytest.raises(WorkflowError, match="not in operator set 'math'"):
        validate_workflow(math_only, load_operator_set("math"))


def test_graph_follows_data_flow():
    src = (REFERENCE_DIR / "cot_sc.py").read_text()
    m = to_mermaid(src)
    assert m.startswith("flowchart TD")
    assert '["answer_generate ×5 (line 3)"]' in m and '["vote (line 4)"]' in m
    assert "problem --> n1" in m and "n1 --> n2" in m and "n2 --> answer" in m
    d = to_dot((REFERENCE_DIR / "programmer_sc.py").read_text())
    assert 'label="programmer ×3 (line 3)"' in d and "problem -> n1 [style=dotted];" in d
