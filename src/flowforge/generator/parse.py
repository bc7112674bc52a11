"""Turn a generator's raw reply into a valid workflow, or say exactly why it is not one.

Repairs only what is trivial and unambiguous: code-block extraction, tabs and stray indentation,
`def solve` written without `async`, `ops.x(...)` calls written without `await`, a last line cut
off by the token limit (not a syntax error earlier), `solve`'s signature (type hints, defaults,
renamed or missing `problem`/`ops`), a last computed value that is never returned, and
`r["answer"]` where `r` is a str result (it always raises TypeError; the text itself was meant).
Everything else is left to the validator, whose message names the line and rule.
"""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flowforge import answers
from flowforge.errors import WorkflowError

if TYPE_CHECKING:
    from flowforge.operators import OperatorSet

_CUT_OFF = ("was never closed", "unterminated", "unexpected EOF")  # what a cut-off text fails with


@dataclass
class ParsedWorkflow:
    raw: str
    source: str
    valid: bool
    error: str | None = None
    repairs: list[str] = field(default_factory=list)


def extract_code(raw: str) -> str:
    """The code block holding `solve` (see flowforge.answers.code)."""
    return answers.code(raw, defines="solve")


class _AddAwait(ast.NodeTransformer):
    """Wrap `ops.x(...)` calls that are not awaited."""

    def __init__(self) -> None:
        self.count = 0

    def visit_Await(self, node: ast.Await) -> ast.AST:
        if isinstance(node.value, ast.Call):  # keep an awaited call as is, but visit its args
            node.value.args = [self.visit(a) for a in node.value.args]
            for kw in node.value.keywords:
                kw.value = self.visit(kw.value)
            return node
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "ops":
            self.count += 1
            return ast.Await(value=node)
        return node


def _fix_solve(tree: ast.Module) -> list[str]:
    """Normalise `solve`'s signature (annotations, defaults, renamed or missing parameters) and
    return the last value when it is computed but never returned."""
    solve = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "solve"), None)
    if solve is None:
        return []
    repairs: list[str] = []
    args = solve.args
    names = [a.arg for a in args.posonlyargs + args.args]
    wanted = ["problem", "ops"]
    extra = args.vararg or args.kwarg or args.kwonlyargs or len(names) > 2
    if not extra and (names != wanted or args.defaults or any(a.annotation for a in args.args) or solve.returns):
        rename = {old: new for old, new in zip(names, wanted) if old != new and old not in wanted}
        for node in ast.walk(solve):
            if isinstance(node, ast.Name) and node.id in rename:
                node.id = rename[node.id]
        solve.args = ast.arguments(posonlyargs=[], args=[ast.arg("problem"), ast.arg("ops")], kwonlyargs=[],
                                   kw_defaults=[], defaults=[])
        solve.returns = None
        repairs.append("signature")
    if not any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(solve)) and solve.body:
        last = solve.body[-1]
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Await):
            solve.body[-1] = ast.Return(value=last.value)
            repairs.append("missing return")
        elif isinstance(last, ast.Assign) and len(last.targets) == 1 and isinstance(last.targets[0], ast.Name):
            solve.body.append(ast.Return(value=ast.Name(last.targets[0].id, ast.Load())))
            repairs.append("missing return")
    return repairs


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
        return True
    except SyntaxError:
        return False


def _truncated(code: str) -> bool:
    """Whether `code` fails to parse the way a cut-off text does: an error on its last line, or
    a bracket or string left open. An error earlier (`f(a=1, 2)` on line 3 of 5) is the model's,
    and dropping lines to hide it would misreport the workflow."""
    try:
        ast.parse(code)
        return False
    except SyntaxError as e:
        last = len(code.rstrip("\n").split("\n"))
        return (e.lineno or 0) >= last or any(m in (e.msg or "") for m in _CUT_OFF)


def repair(code: str) -> tuple[str, list[str]]:
    """Deterministic fixes; returns the new code and the list of repairs applied."""
    repairs: list[str] = []
    fixed = textwrap.dedent(code.expandtabs(4)).strip("\n")
    if fixed != code.strip("\n"):
        repairs.append("indentation")
    if re.search(r"^def solve\(", fixed, re.M) and not re.search(r"^async def solve\(", fixed, re.M):
        fixed = re.sub(r"^def solve\(", "async def solve(", fixed, count=1, flags=re.M)
        repairs.append("missing async")
    lines = fixed.split("\n")
    dropped = 0
    if _truncated(fixed):
        while dropped < 3 and len(lines) > 1 and not _parses("\n".join(lines)):
            lines.pop()
            dropped += 1
    if not _parses("\n".join(lines)):
        return fixed, repairs
    if len(lines) < len(fixed.split("\n")):
        repairs.append("truncated tail")
        fixed = "\n".join(lines)
    try:
        tree = ast.parse(fixed)
    except SyntaxError:
        return fixed, repairs
    adder = _AddAwait()
    tree = adder.visit(tree)
    if adder.count:
        repairs.append("missing await")
    solve_repairs = _fix_solve(tree)
    if adder.count or solve_repairs:
        repairs += solve_repairs
        fixed = ast.unparse(ast.fix_missing_locations(tree))
    return fixed, repairs


def parse_workflow(raw: str, opset: "OperatorSet") -> ParsedWorkflow:
    """Extract, repair and validate one generation."""
    from flowforge.workflow.validate import drop_str_keys, validate_workflow

    source, repairs = repair(extract_code(raw))
    for _ in range(3):  # r["answer"] on a str result: the text itself (each pass may reveal another)
        fixed = drop_str_keys(source, opset)
        if fixed is None:
            break
        source = fixed
        if "string key on a str" not in repairs:
            repairs.append("string key on a str")
    try:
        tree = validate_workflow(source, opset)
        if not any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(tree)):
            raise WorkflowError("solve never returns an answer", rule="must-return")
    except WorkflowError as e:
        return ParsedWorkflow(raw, source, False, str(e), repairs)
    return ParsedWorkflow(raw, source + "\n", True, None, repairs)
