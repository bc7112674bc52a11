"""The workflow language: parse a workflow and check its AST against a whitelist (the README's
"Workflows"). Stdlib only. Every violation names its line and a rule id; that text is
also the training signal for invalid generations.

Rules: syntax, module-level, signature, import, dunder, attribute, unknown-operator,
unavailable, operator-args, await, ops-usage, unknown-name, forbidden, except-form,
unbounded-while, type.

`type` follows the value types of the operator signatures through the body and rejects only
what must fail when it runs: a string key into a str or list, a key an operator result lacks,
an argument of a type the parameter cannot take, a method the value does not have, adding
unlike values, and returning a dict or list as the answer. What it cannot tell is `any`.
"""
from __future__ import annotations

import ast
import difflib

from flowforge.errors import WorkflowError
from flowforge.operators.valuetypes import ANY, NONE, NUM, STR, VType, accepts, dict_of, join, list_of

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
        _Types(self.opset, self.err).block(fn.body, {"problem": STR})

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
        gone = next((op for op in self.opset.unavailable if op.name == name), None)
        if gone is not None:
            return self.err(n, "unavailable", f"`ops.{name}` needs {', '.join(gone.needs)}, which the instances of "
                            f"task {self.opset.task} do not provide; use one of: {', '.join(self.opset.names)}")
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


# -- value types (rule `type`) -----------------------------------------------------------------
# Which plain methods each kind of value has; calling another one is an AttributeError.
_HAS_METHOD = {
    "str": {"strip", "lstrip", "rstrip", "split", "splitlines", "join", "lower", "upper", "title",
            "capitalize", "replace", "startswith", "endswith", "find", "count", "index", "isdigit",
            "isnumeric", "isalpha"},
    "list": {"append", "extend", "insert", "pop", "copy", "count", "index"},
    "dict": {"get", "keys", "values", "items", "pop", "copy", "update", "setdefault"},
    "num": set(), "none": set(),
}
_LAZY = {"range", "reversed", "zip", "enumerate"}  # iterators, not JSON data
_MUTATORS = {"append", "extend", "insert", "update", "setdefault", "pop"}
_STR_TO_LIST = {"split", "splitlines"}
_TO_NUM = {"find", "count", "index", "startswith", "endswith", "isdigit", "isnumeric", "isalpha"}
_BUILTIN_RESULT = {"str": STR, "int": NUM, "float": NUM, "bool": NUM, "len": NUM, "round": NUM, "abs": NUM,
                   "any": NUM, "all": NUM, "isinstance": NUM, "print": NONE, "dict": dict_of(None)}


class _Types:
    """The type of each name through `solve`'s body, flow-sensitively: assignments rebind,
    `if` branches join (different types give `any`), a loop body starts with its assigned names
    as `any`, `gather` gives a list of the calls' result type. Reports only certain failures."""

    def __init__(self, opset, err, probe: str | None = None):
        self.opset, self.err, self.seen = opset, err, set()
        self.str_keyed: list[ast.Subscript] = []  # `s["key"]` on a str: always a TypeError
        self.probe, self.at_probe = probe, None  # the env where the name `probe` is read

    def report(self, node: ast.AST, msg: str) -> None:
        if (node.lineno, msg) not in self.seen:
            self.seen.add((node.lineno, msg))
            self.err(node, "type", msg)

    # -- statements: each returns the env after it, or None when control never gets past it --
    def block(self, stmts: list[ast.stmt], env: dict | None) -> dict | None:
        for s in stmts:
            if env is None:
                return None
            env = self.stmt(s, dict(env))
        return env

    def stmt(self, s: ast.stmt, env: dict) -> dict | None:
        if isinstance(s, ast.Return):
            t = self.expr(s.value, env) if s.value is not None else NONE
            if t.kind in ("list", "dict"):
                hint = (f'return one of its fields, e.g. `{_src(s.value)}["{t.keys[-1]}"]`' if t.keys
                        else "pick one answer first, e.g. with an operator or an index")
                self.report(s, f"solve returns `{_src(s.value)}`, a {t}, but the answer must be a string; {hint}")
            return None
        if isinstance(s, ast.Assign):
            t = self.expr(s.value, env)
            for target in s.targets:
                self.bind(target, t, env)
        elif isinstance(s, ast.AugAssign):
            t = self.expr(s.value, env)
            if isinstance(s.target, ast.Name):
                old = env.get(s.target.id, ANY)
                list_extend = old.kind == "list" and isinstance(s.op, ast.Add)  # xs += any iterable
                env[s.target.id] = list_of() if list_extend else self.binop(s, old, s.op, t)
            else:
                self.bind(s.target, ANY, env)
        elif isinstance(s, ast.Expr):
            self.expr(s.value, env)
        elif isinstance(s, ast.If):
            self.expr(s.test, env)
            return _join_env(self.block(s.body, env), self.block(s.orelse, env))
        elif isinstance(s, (ast.For, ast.While)):
            return self.loop(s, env)
        elif isinstance(s, ast.Try):
            return self.try_(s, env)
        return env

    def loop(self, s: ast.For | ast.While, env: dict) -> dict | None:
        head = self.expr(s.iter if isinstance(s, ast.For) else s.test, env)
        inside = dict(env)
        names = _assigned(s.body) | (_assigned([s.target]) if isinstance(s, ast.For) else set())
        if self.probe and any(isinstance(x, ast.Name) and x.id == self.probe for b in s.body for x in ast.walk(b)):
            names |= set(env)  # a body written up to the probe: what follows may rebind any name
        for name in names:
            inside[name] = ANY  # carried over from an earlier iteration: cannot tell
        if isinstance(s, ast.For):
            self.bind(s.target, _item(head), inside)
        out = _join_env(env, self.block(s.body, inside))  # zero or more iterations
        return self.block(s.orelse, out) if s.orelse else out

    def try_(self, s: ast.Try, env: dict) -> dict | None:
        states, cur = [env], env
        for stmt in s.body:  # a handler may start after any prefix of the body
            cur = self.stmt(stmt, dict(cur)) if cur is not None else None
            states.append(cur)
        start = None
        for st in states:
            start = _join_env(start, st)
        out = self.block(s.orelse, cur) if cur is not None else None
        for h in s.handlers:
            henv = dict(start)
            if h.name:
                henv[h.name] = ANY
            out = _join_env(out, self.block(h.body, henv))
        return self.block(s.finalbody, out) if s.finalbody and out is not None else out

    def bind(self, target: ast.expr, t: VType, env: dict) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = t
        elif isinstance(target, (ast.Tuple, ast.List)):
            for e in target.elts:
                self.bind(e.value if isinstance(e, ast.Starred) else e,
                          list_of(_item(t)) if isinstance(e, ast.Starred) else _item(t), env)
        elif isinstance(target, ast.Subscript):  # x[k] = v: x may gain keys or other items
            self.expr(target.slice, env)
            if isinstance(target.value, ast.Name):
                old = env.get(target.value.id, ANY)
                env[target.value.id] = dict_of(None) if old.kind == "dict" else ANY if old.kind == "list" else old
            else:
                self.expr(target.value, env)

    # -- expressions: visit every sub-expression once, return the value's type --------------
    def expr(self, n: ast.expr, env: dict) -> VType:
        if isinstance(n, ast.Constant):
            v = n.value
            return (STR if isinstance(v, str) else NUM if isinstance(v, (bool, int, float))
                    else NONE if v is None else ANY)
        if isinstance(n, ast.Name):
            if n.id == self.probe and self.at_probe is None:
                self.at_probe = dict(env)
            return env.get(n.id, ANY)
        if isinstance(n, ast.JoinedStr):
            for v in n.values:
                self.expr(v.value if isinstance(v, ast.FormattedValue) else v, env)
            return STR
        if isinstance(n, (ast.List, ast.Tuple, ast.Set)):  # items: what every element may be
            item = None
            for e in n.elts:
                t = self.expr(e.value if isinstance(e, ast.Starred) else e, env)
                item = join(item, _item(t) if isinstance(e, ast.Starred) else t)
            return list_of(item or ANY)
        if isinstance(n, ast.Dict):
            for k, v in zip(n.keys, n.values):
                if k is not None:
                    self.expr(k, env)
                self.expr(v, env)
            return dict_of(None)
        if isinstance(n, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = dict(env)
            for g in n.generators:
                self.bind(g.target, _item(self.expr(g.iter, inner)), inner)
                for cond in g.ifs:
                    self.expr(cond, inner)
            if isinstance(n, ast.DictComp):
                self.expr(n.key, inner)
                self.expr(n.value, inner)
                return dict_of(None)
            return list_of(self.expr(n.elt, inner))
        if isinstance(n, ast.Await):
            return self.expr(n.value, env)
        if isinstance(n, ast.Call):
            return self.call(n, env)
        if isinstance(n, ast.Subscript):
            return self.subscript(n, env)
        if isinstance(n, ast.BinOp):
            lazy = next((side for side in (n.left, n.right) if _lazy_call(side)), None)
            if lazy is not None:  # range(3) + [x]: a TypeError, though both iterate like lists
                self.report(n, f"`{_src(lazy)}` is a {_lazy_call(lazy).func.id} object, not a list, so `{_src(n)}` "
                            f"fails; make it a list: `list({_src(lazy)})`")
            return self.binop(n, self.expr(n.left, env), n.op, self.expr(n.right, env))
        if isinstance(n, ast.BoolOp):
            t = None
            for v in n.values:
                t = join(t, self.expr(v, env))
            return t or ANY
        if isinstance(n, ast.IfExp):
            self.expr(n.test, env)
            return join(self.expr(n.body, env), self.expr(n.orelse, env))
        if isinstance(n, ast.NamedExpr):
            t = self.expr(n.value, env)
            self.bind(n.target, t, env)
            return t
        if isinstance(n, (ast.Compare, ast.UnaryOp)):
            for c in ast.iter_child_nodes(n):
                if isinstance(c, ast.expr):
                    self.expr(c, env)
            return NUM if isinstance(n, ast.Compare) or not isinstance(n.op, ast.Invert) else ANY
        for c in ast.iter_child_nodes(n):  # Starred, Slice, Attribute, FormattedValue, ...
            if isinstance(c, ast.expr):
                self.expr(c, env)
        return ANY

    def call(self, n: ast.Call, env: dict) -> VType:
        f = n.func
        if is_ops_call(n):
            spec = self.opset.get(f.attr)
            params = {p.name: p for p in spec.params} if spec else {}
            for a in n.args:
                self.expr(a, env)
            for kw in n.keywords:
                t = self.expr(kw.value, env)
                p = params.get(kw.arg)
                v = kw.value
                lazy = _lazy_call(v)
                if lazy is not None:
                    self.report(v, f"`ops.{f.attr}` argument `{kw.arg}` is `{_src(v)}`, a {lazy.func.id} object, "
                                f"not data (operator arguments are sent as JSON); make it a list: `list({_src(v)})`")
                elif p is not None and not accepts(p.type, t):
                    self.report(kw.value, f"`ops.{f.attr}` argument `{kw.arg}` must be a {p.type}, but "
                                f"`{_src(kw.value)}` is a {t}; signature: {spec.signature}")
                elif p is not None and not _one_of(p.type, v):
                    self.report(v, f"`ops.{f.attr}` argument `{kw.arg}` must be {p.type}, not {_src(v)}; "
                                f"signature: {spec.signature}")
            return spec.result_type if spec else ANY
        args = [self.expr(a.value if isinstance(a, ast.Starred) else a, env) for a in n.args]
        for kw in n.keywords:
            self.expr(kw.value, env)
        if isinstance(f, ast.Name):
            if f.id == "gather":  # a list of the awaited calls' results
                items = [_item(t) if isinstance(a, ast.Starred) else t for a, t in zip(n.args, args)]
                out = None
                for t in items:
                    out = join(out, t)
                return list_of(out or ANY)
            if f.id in ("list", "sorted", "reversed", "tuple", "set"):
                return list_of(_item(args[0]) if args and args[0].kind in ("list", "str") else ANY)
            if f.id in ("min", "max") and len(args) == 1:
                return _item(args[0])
            if f.id == "sum":
                return NUM if len(args) == 1 and not n.keywords else ANY
            if f.id == "range":
                return list_of(NUM)
            return _BUILTIN_RESULT.get(f.id, ANY)
        if isinstance(f, ast.Attribute):
            return self.method(n, f, env, args)
        self.expr(f, env)
        return ANY

    def method(self, n: ast.Call, f: ast.Attribute, env: dict, args: list[VType]) -> VType:
        recv = self.expr(f.value, env)
        m, kind = f.attr, recv.kind
        if kind in _HAS_METHOD and m not in _HAS_METHOD[kind]:
            self.report(n, f"`{_src(f.value)}` is a {recv} here, which has no method `.{m}`")
            return ANY
        if isinstance(f.value, ast.Name) and kind in ("list", "dict") and m in ("append", "extend", "insert",
                                                                               "update", "setdefault"):
            env[f.value.id] = dict_of(None) if kind == "dict" else list_of()  # its contents change
        if kind == "str":
            return list_of(STR) if m in _STR_TO_LIST else NUM if m in _TO_NUM else STR
        if kind == "list":
            return _item(recv) if m == "pop" else recv if m == "copy" else NUM if m in ("count", "index") else NONE
        if kind == "dict":
            key = n.args[0] if n.args else None
            if m == "get" and recv.keys is not None and _const_str(key) in recv.keys:
                return recv.field(key.value) if len(n.args) == 1 else join(recv.field(key.value), args[1])
            return recv if m == "copy" else list_of() if m in ("keys", "values", "items") else ANY
        return ANY

    def subscript(self, n: ast.Subscript, env: dict) -> VType:
        value = self.expr(n.value, env)
        key_node = n.slice
        key = self.expr(key_node, env)
        what, name = value.kind, _src(n.value)
        if isinstance(key_node, ast.Slice):
            return value if what in ("str", "list") else ANY
        if what == "str" and _const_str(key_node) is not None:
            self.str_keyed.append(n)
        if what in ("str", "list", "num", "none") and key.kind == "str":
            hint = ("; it is already the text, use it directly" if what == "str"
                    else "; index it with a number" if what == "list" else "")
            self.report(n, f"`{name}` is a {value} here, so `{_src(n)}` fails (no string keys){hint}")
            return ANY
        if what == "dict" and value.keys is not None:
            k = _const_str(key_node)
            if k is not None and k not in value.keys or key.kind == "num":
                self.report(n, f"`{name}` is a {value} here, so `{_src(n)}` fails (no such key); "
                            f"use one of: {', '.join(value.keys)}")
                return ANY
            return value.field(k) if k is not None else ANY
        if what == "str":
            return STR
        if what == "list":
            return _item(value)
        return ANY

    def binop(self, n: ast.AST, left: VType, op: ast.operator, right: VType) -> VType:
        kinds = (left.kind, right.kind)
        if "any" in kinds:
            return STR if isinstance(op, ast.Mod) and left.kind == "str" else ANY
        if isinstance(op, ast.Add):
            if left.kind != right.kind or left.kind not in ("str", "num", "list"):
                self.report(n, f"cannot add a {left} and a {right}")
                return ANY
            return left if left.kind != "list" else list_of(join(_item(left), _item(right)))
        if isinstance(op, ast.Mult) and "num" in kinds and set(kinds) & {"str", "list"}:
            return left if left.kind != "num" else right
        if isinstance(op, ast.Mod) and left.kind == "str":
            return STR
        return NUM if kinds == ("num", "num") else ANY


def _lazy_call(n: ast.AST) -> ast.Call | None:
    """The `range(...)`, `zip(...)`, ... call that `n` is (a slice of a range is a range): an
    iterator, which neither crosses to an operator as JSON nor adds to a list."""
    while isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Slice):
        n = n.value
    return n if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _LAZY else None


def _item(t: VType) -> VType:
    """The type of one element when iterating over (or unpacking) a value of type t."""
    return t.item or ANY if t.kind == "list" else STR if t.kind == "str" else ANY


def _join_env(a: dict | None, b: dict | None) -> dict | None:
    if a is None or b is None:
        return b if a is None else a
    return {k: join(a.get(k), b.get(k)) for k in a.keys() | b.keys()}


def _assigned(stmts: list[ast.AST]) -> set[str]:
    """Names a block (re)binds or mutates in place (x = ..., x.append(...), x[k] = ...)."""
    out = set()
    for node in (x for s in stmts for x in ast.walk(s)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name):
            out.add(node.value.id)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS
              and isinstance(node.func.value, ast.Name)):
            out.add(node.func.value.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
    return out


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _src(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."


def drop_str_keys(source: str, opset) -> str | None:
    """`r["answer"]` where `r` is a str (e.g. the result of `generate`) always raises TypeError;
    the text itself is what was meant. `source` with every such subscript replaced by the value
    it indexes, or None when there is none (or the source does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError):
        return None
    solve = next((n for n in tree.body if isinstance(n, ast.AsyncFunctionDef) and n.name == "solve"), None)
    if solve is None:
        return None
    types = _Types(opset, lambda *a: None)
    types.block(solve.body, {"problem": STR})
    if not types.str_keyed:
        return None
    drop = {id(n) for n in types.str_keyed}

    class _Drop(ast.NodeTransformer):
        def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
            node = self.generic_visit(node)
            return node.value if id(node) in drop else node

    return ast.unparse(_Drop().visit(tree))


def types_at(source: str, opset, probe: str) -> dict[str, VType] | None:
    """The type of each name where `solve` first reads the name `probe` (the rule `type`'s own
    inference), or None when `source` does not parse, has no `solve` or never reads `probe`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    solve = next((n for n in tree.body if isinstance(n, (ast.AsyncFunctionDef, ast.FunctionDef))
                  and n.name == "solve"), None)
    if solve is None:
        return None
    types = _Types(opset, lambda *a: None, probe)
    types.block(solve.body, {"problem": STR})
    return types.at_probe


def value_errors(text: str, env: dict[str, VType], opset, op: str | None = None, key: str | None = None
                 ) -> list[str] | None:
    """The rule `type`'s messages about the expression `text` (names typed by `env`, from
    `types_at`) as the argument `key` of `ops.<op>`, or without `op` as solve's return value;
    None when `text` is not one expression."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    if op is None:
        stmt: ast.stmt = ast.Return(value=node)
    else:
        call = ast.Call(ast.Attribute(ast.Name("ops", ast.Load()), op, ast.Load()), [], [ast.keyword(key, node)])
        stmt = ast.Expr(call)
    ast.fix_missing_locations(ast.Module([stmt], []))
    errors: list[str] = []
    _Types(opset, lambda node, rule, msg: errors.append(msg)).stmt(stmt, dict(env))
    return errors


def _one_of(want: VType, value: ast.expr) -> bool:
    """Whether a literal string `value` is one of the values `want` lists (as the operators read
    them: case and surrounding spaces aside); what is not a literal cannot be told."""
    if want.choices is None or not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return True
    return value.value.strip().lower() in {c.lower() for c in want.choices}


MAX_SOURCE_CHARS = 256_000  # ~100x a reference workflow; parse + check stay well under a second


def workflow_errors(source: str, opset) -> list[WorkflowError]:
    """Every violation in `source`, ordered by line (empty list: valid)."""
    if len(source) > MAX_SOURCE_CHARS:  # 2M statements would take minutes and GBs to parse and check
        return [WorkflowError(f"workflow is {len(source):,} characters; the limit is {MAX_SOURCE_CHARS:,}",
                              None, "size")]
    try:
        tree = ast.parse(source)
        checker = _Checker(opset)
        checker.module(tree)
    except SyntaxError as e:
        return [WorkflowError(f"syntax error: {e.msg}", e.lineno, "syntax")]
    except (RecursionError, MemoryError):
        return [WorkflowError("workflow is nested too deeply to check (e.g. a chain of thousands of terms)",
                              None, "depth")]
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
