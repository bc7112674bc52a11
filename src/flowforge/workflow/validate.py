"""The workflow language: parse a workflow and check its AST against the whitelist of DESIGN.md
("Workflow format"). Stdlib only. Every violation names its line and a rule id; that text is
also the training signal for invalid generations.

Rules: syntax, module-level, signature, import, dunder, attribute, unknown-operator,
operator-args, await, ops-usage, unknown-name, forbidden, except-form, unbounded-while.
"""
from __future__ import annotations

import ast
import difflib

from flowforge.errors import WorkflowError

SAFE_BUILTINS = frozenset({
    "len", "range", "str", "int", "float", "bool", "min", "max", "sorted", "any", "all", "abs",
    "round", "sum", "list", "dict", "set", "tuple", "enumerate", "zip", "reversed", "isinstance",
    "print", "gather", "Exception", "True", "False", "None",
})
METHODS = frozenset({  # plain str / list / dict methods
    "get", "keys", "values", "items", "strip", "lstrip", "rstrip", "split", "splitlines", "join",
    "lower", "upper", "title", "capitalize", "replace", "startswith", "endswith", "find", "count",
    "index", "isdigit", "isnumeric", "isalpha", "append", "extend", "insert", "pop", "copy",
    "update", "setdefault",
})
_ALLOWED = (
    ast.Return, ast.Assign, ast.AugAssign, ast.For, ast.While, ast.If, ast.Expr, ast.Pass,
    ast.Break, ast.Continue, ast.Try, ast.ExceptHandler,
    ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Dict, ast.Set, ast.ListComp, ast.SetComp,
    ast.DictComp, ast.GeneratorExp, ast.Await, ast.Compare, ast.Call, ast.FormattedValue,
    ast.JoinedStr, ast.Constant, ast.Attribute, ast.Subscript, ast.Starred, ast.Name, ast.List,
    ast.Tuple, ast.Slice, ast.NamedExpr, ast.comprehension, ast.keyword,
    ast.operator, ast.boolop, ast.cmpop, ast.unaryop, ast.expr_context,
)
_NAMES = {  # friendly names for forbidden constructs
    ast.Lambda: "lambda", ast.ClassDef: "class", ast.Global: "global", ast.Nonlocal: "nonlocal",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.With: "with", ast.AsyncWith: "async with",
    ast.Raise: "raise", ast.Assert: "assert", ast.Delete: "del", ast.FunctionDef: "nested def",
    ast.AsyncFunctionDef: "nested def", ast.AsyncFor: "async for", ast.Match: "match",
    ast.AnnAssign: "annotated assignment",
}


def is_ops_call(node: ast.AST) -> bool:
    """`ops.<name>(...)`: an operator call site."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "ops")


def _is_gather(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "gather"


class _Checker:
    def __init__(self, opset):
        self.opset, self.errors, self.parent = opset, [], {}

    def err(self, node: ast.AST | None, rule: str, msg: str) -> None:
        self.errors.append(WorkflowError(msg, getattr(node, "lineno", None), rule))

    # -- module and signature ------------------------------------------------------------
    def module(self, tree: ast.Module) -> None:
        body = list(tree.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # module docstring
        solves = [n for n in body if isinstance(n, (ast.AsyncFunctionDef, ast.FunctionDef)) and n.name == "solve"]
        for n in body:
            if isinstance(n, (ast.Import, ast.ImportFrom)):
                self.err(n, "import", "imports are not allowed; use the operators in `ops`")
            elif n not in solves:
                self.err(n, "module-level", "only `async def solve(problem, ops)` may be defined at module level")
        if len(solves) != 1:
            self.err(solves[1] if solves else None, "signature",
                     "define exactly one `async def solve(problem, ops)`")
            if not solves:
                return
        fn = solves[0]
        args = fn.args
        if isinstance(fn, ast.FunctionDef):
            self.err(fn, "signature", "solve must be `async def solve(problem, ops)`")
        if ([a.arg for a in args.args] != ["problem", "ops"] or args.posonlyargs or args.kwonlyargs
                or args.vararg or args.kwarg or args.defaults or fn.decorator_list or fn.returns
                or any(a.annotation for a in args.args)):
            self.err(fn, "signature", "the signature must be exactly `async def solve(problem, ops)`")
        for node in ast.walk(fn):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        self.assigned = {"problem"} | {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)
                                       and isinstance(n.ctx, ast.Store)}
        self.assigned |= {h.name for h in ast.walk(fn) if isinstance(h, ast.ExceptHandler) and h.name}
        for stmt in fn.body:
            self.visit(stmt)

    def visit(self, node: ast.AST) -> None:
        if self.node(node):
            for child in ast.iter_child_nodes(node):
                self.visit(child)

    # -- every node inside solve ---------------------------------------------------------
    def node(self, node: ast.AST) -> bool:
        """Check one node; False when it is forbidden outright (its subtree is skipped)."""
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self.err(node, "import", "imports are not allowed; use the operators in `ops`")
            return False
        if not isinstance(node, _ALLOWED):
            what = _NAMES.get(type(node), type(node).__name__)
            self.err(node, "forbidden", f"`{what}` is not allowed in a workflow")
            return False
        check = getattr(self, "_" + type(node).__name__, None)
        if check:
            check(node)
        return True

    def _Name(self, n: ast.Name) -> None:
        if n.id.startswith("__"):
            return self.err(n, "dunder", f"dunder name `{n.id}` is not allowed")
        if n.id == "ops":
            p = self.parent.get(n)
            if not (isinstance(n.ctx, ast.Load) and isinstance(p, ast.Attribute) and p.value is n):
                self.err(n, "ops-usage", "use `ops` only as `await ops.<operator>(...)`")
        elif isinstance(n.ctx, ast.Load) and n.id not in self.assigned and n.id not in SAFE_BUILTINS:
            self.err(n, "unknown-name", f"name `{n.id}` is not defined; allowed builtins: "
                     + ", ".join(sorted(SAFE_BUILTINS - {"True", "False", "None", "Exception"})))

    def _Attribute(self, n: ast.Attribute) -> None:
        if n.attr.startswith("__"):
            return self.err(n, "dunder", f"dunder attribute `.{n.attr}` is not allowed")
        p = self.parent.get(n)
        called = isinstance(p, ast.Call) and p.func is n
        if isinstance(n.value, ast.Name) and n.value.id == "ops":
            if not called:
                self.err(n, "ops-usage", f"call the operator: `await ops.{n.attr}(...)`")
        elif not (called and n.attr in METHODS):
            self.err(n, "attribute", f"attribute `.{n.attr}` is not allowed; only `ops.<operator>(...)` "
                     "and calls of plain str/list/dict methods such as .get .split .join .strip .append")

    def _Call(self, n: ast.Call) -> None:
        if not is_ops_call(n):
            return
        name = n.func.attr
        spec = self.opset.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, self.opset.names, n=2)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            return self.err(n, "unknown-operator", f"`ops.{name}` is not in operator set "
                            f"{self.opset.name!r} ({', '.join(self.opset.names)}){hint}")
        params = {p.name for p in spec.params}
        given = [k.arg for k in n.keywords]
        if n.args or None in given:
            self.err(n, "operator-args", f"call operators with keyword arguments: `ops.{spec.signature.split(' ->')[0]}`")
        for k in given:
            if k is not None and k not in params:
                self.err(n, "operator-args", f"`ops.{name}` has no argument `{k}`; signature: {spec.signature}")
        missing = [p.name for p in spec.params if p.required and p.name not in given]
        if missing and not n.args and None not in given:
            self.err(n, "operator-args", f"`ops.{name}` is missing {', '.join(missing)}; signature: {spec.signature}")
        node, p = n, self.parent.get(n)
        if isinstance(p, ast.Await):
            return
        while p is not None and not _is_gather(p):
            node, p = p, self.parent.get(p)
        if p is None:
            self.err(n, "await", f"`ops.{name}(...)` must be awaited: `await ops.{name}(...)` "
                     "(or passed to `await gather(...)`)")

    def _Await(self, n: ast.Await) -> None:
        if not (is_ops_call(n.value) or _is_gather(n.value)):
            self.err(n, "await", "`await` only applies to `ops.<operator>(...)` or `gather(...)`")

    def _Try(self, n: ast.Try) -> None:
        for h in n.handlers:
            if not (isinstance(h.type, ast.Name) and h.type.id == "Exception"):
                self.err(h, "except-form", "catch operator errors with `except Exception:` "
                         "(or `except Exception as e:`)")

    def _While(self, n: ast.While) -> None:
        if isinstance(n.test, ast.Constant) and n.test.value:
            return self.err(n, "unbounded-while", "`while` with a constant true condition never ends; "
                            "use `for _ in range(N):`")
        in_test = {x.id for x in ast.walk(n.test) if isinstance(x, ast.Name)}
        changed = set()
        for x in (y for s in n.body for y in ast.walk(s)):
            if isinstance(x, ast.Name) and isinstance(x.ctx, ast.Store):
                changed.add(x.id)
            elif isinstance(x, ast.Call) and isinstance(x.func, ast.Attribute) and isinstance(x.func.value, ast.Name):
                changed.add(x.func.value.id)  # x.append(...), x.pop() mutate x
        has_break = any(isinstance(y, ast.Break) for s in n.body for y in ast.walk(s))
        if not (in_test & changed) and not has_break:
            self.err(n, "unbounded-while", "the `while` condition never changes inside the loop; "
                     "update a variable it tests, or use `for _ in range(N):`")


MAX_SOURCE_CHARS = 256_000  # ~100x a reference workflow; parse + check stay well under a second


def workflow_errors(source: str, opset) -> list[WorkflowError]:
    """Every violation in `source`, ordered by line (empty list: valid)."""
    if len(source) > MAX_SOURCE_CHARS:  # 2M statements would take minutes and GBs to parse and check
        return [WorkflowError(f"workflow is {len(source):,} characters; the limit is {MAX_SOURCE_CHARS:,}",
                              None, "size")]
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return [WorkflowError(f"syntax error: {e.msg}", e.lineno, "syntax")]
    checker = _Checker(opset)
    checker.module(tree)
    return sorted(checker.errors, key=lambda e: (e.line is None, e.line or 0))


def validate_workflow(source: str, opset) -> ast.Module:
    """The parsed workflow, or WorkflowError for its first violation (line + rule)."""
    errors = workflow_errors(source, opset)
    if errors:
        raise errors[0]
    return ast.parse(source)


def operators_used(tree: ast.Module) -> list[str]:
    """Operator names called by a (valid) workflow, in source order, without repeats."""
    calls = sorted((n for n in ast.walk(tree) if is_ops_call(n)), key=lambda n: (n.lineno, n.col_offset))
    return list(dict.fromkeys(n.func.attr for n in calls))
