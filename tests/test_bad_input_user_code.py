"""Bad input from a user's own work (issue 17): task paths, task specs and operators from user
code. The operator checks run in Python (fast); one subprocess per command shape checks the CLI
contract: exit 2 and exactly one stderr line `error: ...` naming the file and the field."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowforge.errors import UserError
from flowforge.operators import load_operator_set

CLI = [sys.executable, "-c", "from flowforge.cli import main; main()"]
DEAD = "openai:x@http://127.0.0.1:9/v1"  # nothing listens on port 9: no case may reach a model

TOOLS = '''
def sync_tool(ctx, text):
    return text

async def wrong_args(ctx, query):
    return query

async def optional_text(ctx, text="x"):
    return text

async def no_ctx():
    return 1

async def collects(ctx, **params):
    return 1

async def good(ctx, text):
    return text.upper()
'''


def _opset(d: Path, impl: str) -> Path:
    (d / "tools_mod.py").write_text(TOOLS)
    (d / "broken_mod.py").write_text("raise RuntimeError('boom at import')\n")
    (d / "syntax_mod.py").write_text("async def f(ctx, text)\n    return text\n")
    path = d / "ops.yaml"
    path.write_text("name: mine\nextends: default\ninclude: [answer_generate]\noperators:\n"
                    "  - name: tool\n    signature: 'tool(text: str) -> str'\n    description: A tool.\n"
                    f"    impl: '{impl}'\n")
    return path


@pytest.mark.parametrize("impl,field,message", [
    ("no_such_module:f", "operators[0].impl", "cannot import module 'no_such_module' (ModuleNotFoundError"),
    ("broken_mod:f", "operators[0].impl", "cannot import module 'broken_mod' (RuntimeError: boom at import)"),
    ("syntax_mod:f", "operators[0].impl", "cannot import module 'syntax_mod' (SyntaxError"),
    ("tools_mod:missing", "operators[0].impl", "module 'tools_mod' has no attribute 'missing'"),
    ("tools_mod:sync_tool", "operators[0].impl", "sync_tool must be an `async def` function"),
    ("tools_mod:no_ctx", "operators[0].impl", "first parameter of no_ctx must be the operator context `ctx`"),
    ("tools_mod:collects", "operators[0].impl", "not collect them in 'params'"),
    ("tools_mod:wrong_args", "operators[0]", "signature arguments [('text', True)] do not match impl "
                                             "'tools_mod:wrong_args' [('query', True)]"),
    ("tools_mod:optional_text", "operators[0]", "[('text', False)]"),
    ("not a key", "operators[0].impl", "impl 'not a key' is unknown"),
])
def test_user_impl_errors_name_file_and_field(tmp_path, impl, field, message):
    path = _opset(tmp_path, impl)
    with pytest.raises(UserError) as e:
        load_operator_set(path)
    text = str(e.value)
    assert text.startswith(f"{path}: field {field}: ") and message in text and "\n" not in text, text


async def test_user_impl_loads_from_beside_the_yaml_and_runs(tmp_path):
    """The accepted case: the module beside the YAML imports, and the runtime calls it."""
    from flowforge.operators.impls import impl_function

    opset = load_operator_set(_opset(tmp_path, "tools_mod:good"))
    assert opset.names == ["answer_generate", "tool"] and opset.get("tool").impl == "tools_mod:good"
    assert await impl_function("tools_mod:good")(None, text="abc") == "ABC"


def _cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stdout + r.stderr
    return lines[0]


SPEC = ("name: mine\ndomain: qa\ndescription: Questions.\nanswer_format: a span\nscorer: f1\n"
        "fields:\n  problem: q\n  reference: a\nsplits:\n  test: d.jsonl\n")


@pytest.mark.integration
@pytest.mark.integration
@pytest.mark.parametrize("case", ["missing_path", "missing_field", "operator_import", "operator_signature"])
def test_eval_and_run_refuse_bad_user_input_in_one_line(tmp_path, case):
    (tmp_path / "d.jsonl").write_text('{"q": "a?", "a": "b"}\n')
    (tmp_path / "spec.yaml").write_text(SPEC)
    argv = ["eval", "--tasks", "spec.yaml,gsm8k", "--methods", "io", "--executor", DEAD, "--out", "out"]
    if case == "missing_path":
        argv[2] = "nothere/spec.yaml,gsm8k"
        expect = "nothere/spec.yaml: task spec not found"
    elif case == "missing_field":
        (tmp_path / "spec.yaml").write_text(SPEC.replace("scorer: f1\n", ""))
        expect = "spec.yaml: field 'scorer': Field required"
    elif case == "operator_import":
        _opset(tmp_path, "broken_mod:f")
        argv = ["run", "io", "--task", "spec.yaml", "--operators", "ops.yaml", "--executor", DEAD, "--out", "out"]
        expect = "ops.yaml: field operators[0].impl: Value error, impl 'broken_mod:f': cannot import module"
    else:
        _opset(tmp_path, "tools_mod:wrong_args")
        argv += ["--operators", "ops.yaml"]
        expect = "ops.yaml: field operators[0]: Value error, signature arguments"
    line = _one_error_line(_cli(argv, tmp_path))
    assert expect in line, line
    assert not (tmp_path / "out" / "cells").exists()  # refused before any cell ran
