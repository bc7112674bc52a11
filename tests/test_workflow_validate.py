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
    math_only = wf("r = await ops.retrieve(query=problem)", "return r[0]")
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


# -- rule `type`: value types from the operator signatures -----------------------------------

@pytest.mark.parametrize("lines, line, text", [
    # a str result indexed with a string key (calculate, format, extract, generate return str)
    (("r = await ops.calculate(expression=problem)", "return r['answer']"), 3, "no string keys"),
    (("r = await ops.generate(instruction='Solve.', input=problem)", "a = r['answer']", "return a"), 3, "str"),
    # a dict result with a key it does not have
    (("r = await ops.answer_generate(input=problem)", "return r['result']"), 3, "use one of: thought, answer"),
    (("r = await ops.review(solution=problem)", "return r[0]"), 3, "no such key"),
    # a str where a list is declared, and a dict where a str is declared
    (("r = await ops.answer_generate(input=problem)", "return await ops.vote(answers=r['answer'])"), 3,
     "`answers` must be a list"),
    (("r = await ops.answer_generate(input=problem)", "return await ops.format(solution=r)"), 3,
     "`solution` must be a str"),
    (("xs = await gather(*[ops.answer_generate(input=problem) for _ in range(3)])",
      "return await ops.calculate(expression=xs)"), 3, "must be a str"),
    # returning a dict or a list as the answer
    (("r = await ops.answer_generate(input=problem)", "return r"), 3, 'e.g. `r["answer"]`'),
    (("xs = await gather(*[ops.answer_generate(input=problem) for _ in range(3)])",
      "return [x['answer'] for x in xs]"), 3, "a list[str]"),
    # types follow gather, comprehensions, loops and branches
    (("xs = await gather(*[ops.calculate(expression=problem) for _ in range(2)])",
      "return xs[0]['answer']"), 3, "no string keys"),
    (("xs = [await ops.format(solution=problem) for _ in range(2)]", "return xs[0]['answer']"), 3, "str"),
    (("ans = ''", "for _ in range(2):", "    r = await ops.programmer(analysis=problem)",
      "    ans = r['out']", "return ans"), 5, "use one of: code, output"),
    (("if len(problem) > 9:", "    r = await ops.calculate(expression=problem)", "else:",
      "    r = await ops.format(solution=problem)", "return r['answer']"), 6, "no string keys"),
    # other certain crashes: a method the value lacks, adding unlike values
    (("r = await ops.answer_generate(input=problem)", "return r.strip()"), 3, "no method `.strip`"),
    (("r = await ops.calculate(expression=problem)", "return r.get('answer')"), 3, "no method `.get`"),
    (("r = await ops.review(solution=problem)", "return 'x' + r"), 3, "cannot add a str and a dict"),
    # an iterator is not a list: `range(...) + [...]` is a TypeError (a generated workflow wrote it)
    (("xs = range(len(problem)) + [problem]", "return xs[0]"), 2, "make it a list: `list(range(len(problem)))`"),
    (("return await ops.vote(answers=[problem] + zip(problem, problem))",), 2, "a zip object, not a list"),
    (("return await ops.vote(answers=range(len(problem))[:3])",), 2, "is `range(len(problem))[:3]`, a range object"),
    # a mode argument outside the values its signature lists
    (("xs = await ops.find_all(text=problem, kind='expression')", "return xs[0]"), 2,
     '`kind` must be one of "number", "name", "quote", "code", not \'expression\''),
    (("return await ops.extract(text=problem, kind='shape')",), 2, "must be one of"),
])
def test_type_rule_rejects_what_must_crash(lines, line, text):
    with pytest.raises(WorkflowError) as e:
        validate_workflow(wf(*lines), DEFAULT)
    assert (e.value.rule, e.value.line) == ("type", line), str(e.value)
    assert text in str(e.value)


@pytest.mark.parametrize("lines", [
    ("r = await ops.answer_generate(input=problem)", "return r['answer']"),
    ("r = await ops.answer_generate(input=problem)", "return r.get('answer', '')"),
    ("r = await ops.calculate(expression=problem)", "return r[0] + r[-1:]"),
    ("xs = await gather(*[ops.answer_generate(input=problem) for _ in range(3)])",
     "return await ops.vote(answers=[x['answer'] for x in xs])"),
    ("xs = await gather(*[ops.answer_generate(input=problem) for _ in range(3)])",
     "return await ops.vote(answers=xs)"),
    ("ps = await ops.retrieve(query=problem, k=2)", "return await ops.generate(instruction='Answer.', "
     "input='\\n'.join(ps) + problem)"),
    # a name whose type differs by branch is `any`: nothing is claimed about it
    ("if len(problem) > 9:", "    r = await ops.answer_generate(input=problem)", "else:",
     "    r = await ops.calculate(expression=problem)", "return r['answer']"),
    # a loop-carried name is `any` at the top of the body
    ("r = await ops.calculate(expression=problem)", "for _ in range(2):", "    x = r['answer']",
     "    r = await ops.answer_generate(input=problem)", "return r['answer']"),
    # a dict that gains keys, a list that gains items
    ("r = await ops.review(solution=problem)", "r['extra'] = 'x'", "return r['extra']"),
    ("out = []", "out.append(await ops.answer_generate(input=problem))", "return out[0]['answer']"),
    ("r = await ops.review(solution=problem)", "return str(r)"),
    ("xs = list(range(2)) + [problem]", "return str(xs[0])"),
    ("n = len(problem)", "return await ops.calculate(expression=n)"),
    ("return await ops.extract(text=problem, kind=' Number ')",),  # as the operator reads it
    ("k = 'number'", "return await ops.extract(text=problem, kind=k)"),  # not a literal: cannot tell
    ("try:", "    r = await ops.calculate(expression=problem)", "except Exception:",
     "    r = await ops.answer_generate(input=problem)", "return r['answer']"),
])
def test_type_rule_accepts_what_runs(lines):
    validate_workflow(wf(*lines), DEFAULT)


def test_type_rule_applies_to_renamed_and_new_operators():
    novel = load_operator_set("novel")
    validate_workflow(wf("qs = await ops.decompose(problem=problem)", "return await ops.majority(answers=qs)"), novel)
    with pytest.raises(WorkflowError, match=r"`kind` must be one of .*\[type\]"):  # values survive renaming
        validate_workflow(wf("return await ops.pull(text=problem, kind='shape')"), novel)
    with pytest.raises(WorkflowError, match=r"`answers` must be a list.*\[type\]"):
        validate_workflow(wf("q = await ops.evaluate(expression=problem)", "return await ops.majority(answers=q)"),
                          novel)


def test_training_templates_are_type_clean():
    import itertools

    from flowforge.training.templates import TEMPLATES, render

    names = {op.impl: op.name for op in DEFAULT.operators}
    rendered = 0
    for t in TEMPLATES:
        keys = sorted(t.knobs)
        for combo in itertools.product(*[t.knobs[k] for k in keys]):
            assert workflow_errors(render(t, dict(zip(keys, combo)), names), DEFAULT) == []
            rendered += 1
    assert rendered > 100


# -- rule `unavailable`: operators the task cannot serve -------------------------------------

def test_unavailable_operators_are_rejected_for_the_task():
    from flowforge.tasks import get_task

    code = wf("c = await ops.code_generate(instruction='Write it.')",
              "r = await ops.test(solution=c)", "return r['solution']")
    validate_workflow(code, DEFAULT.for_task(get_task("mbpp")))
    bound = DEFAULT.for_task(get_task("gsm8k"))
    assert "test" not in bound.names and "run_tests" not in bound.names and "retrieve" not in bound.names
    assert [op.name for op in bound.unavailable] == ["test", "retrieve", "run_tests"]
    with pytest.raises(WorkflowError) as e:
        validate_workflow(code, bound)
    assert (e.value.rule, e.value.line) == ("unavailable", 3)
    assert "needs public_tests, which the instances of task gsm8k do not provide" in str(e.value)
    hotpot = DEFAULT.for_task(get_task("hotpotqa"))
    assert "retrieve" in hotpot.names and "test" not in hotpot.names
    assert "retrieve" not in DEFAULT.for_task(get_task("humaneval")).names


def test_type_rule_follows_list_literals_and_their_mutation():
    steps = ("steps = [await ops.answer_generate(input=problem)]",)
    with pytest.raises(WorkflowError, match=r"line 3: .*no such key.*\[type\]"):
        validate_workflow(wf(*steps, "return steps[0][0]"), DEFAULT)
    validate_workflow(wf(*steps, "return steps[0]['answer']"), DEFAULT)
    validate_workflow(wf(*steps, "steps.append(problem)", "return steps[1][0]"), DEFAULT)  # items now any
    validate_workflow(wf(*steps, "steps[0] = problem", "return steps[0][0]"), DEFAULT)


@pytest.mark.parametrize("lines, task, line, rule", [
    (("r = await ops.calculate(expression=problem)", "return r['answer']"), "gsm8k", 3, "type"),
    (("r = await ops.run_tests(solution=problem)", "return r['feedback']"), "gsm8k", 2, "unavailable"),
])
@pytest.mark.integration
def test_cli_run_refuses_a_type_error_in_one_line_and_runs_nothing(tmp_path, lines, task, line, rule):
    import subprocess
    import sys

    (tmp_path / "wf.py").write_text(wf(*lines))
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-c", "from flowforge.cli import main; main()", "run", str(tmp_path / "wf.py"),
                        "--task", task, "--limit", "1", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and f"wf.py: line {line}: " in r.stderr and f"[{rule}]" in r.stderr
    assert not out.exists()
