"""Safe evaluation of arithmetic and boolean expressions by walking the AST. No eval, no names,
no calls, no attributes; exponents and result sizes are bounded so `9**9**9` cannot hang."""
from __future__ import annotations

import ast
import math
import operator
import re

MAX_LEN = 500
MAX_EXPONENT = 128
MAX_MAGNITUDE = 10**60

_BIN = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMP = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_WORDS = {"true": "True", "false": "False", "and": "and", "or": "or", "not": "not"}


class CalcError(ValueError):
    """The text is not an expression `calculate` accepts."""


def _clean(text: str) -> str:
    t = text.strip().rstrip("=?.").strip()
    t = re.sub(r"\s+is$", "", t)  # BBH: "True and False is"
    t = t.replace("×", "*").replace("÷", "/").replace("−", "-").replace("^", "**")
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)  # 1,000 -> 1000
    t = re.sub(r"[A-Za-z]+", lambda m: _WORDS.get(m.group(0).lower(), m.group(0)), t)
    return t


def _check(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, float) and not math.isfinite(v):
        raise CalcError("result is not finite")
    if abs(v) > MAX_MAGNITUDE:
        raise CalcError("result too large")
    return v


def _eval(node: ast.AST):
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalcError(f"exponent {right} too large (max {MAX_EXPONENT})")
        try:
            return _check(_BIN[type(node.op)](left, right))
        except (ZeroDivisionError, OverflowError) as e:
            raise CalcError(str(e)) from None
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not v
        if isinstance(node.op, ast.USub):
            return -v
        if isinstance(node.op, ast.UAdd):
            return +v
    if isinstance(node, ast.BoolOp):
        vals = [_eval(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return all(vals)
        return any(vals)
    if isinstance(node, ast.Compare) and all(type(o) in _CMP for o in node.ops):
        left = _eval(node.left)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    raise CalcError(f"unsupported element {type(node).__name__!r}")


def evaluate(text: str):
    """The value of an arithmetic/boolean expression; CalcError for anything else."""
    if len(text) > MAX_LEN:
        raise CalcError(f"expression longer than {MAX_LEN} characters")
    t = _clean(text)
    if not t:
        raise CalcError("empty expression")
    try:
        tree = ast.parse(t, mode="eval")
        return _eval(tree)
    except (SyntaxError, ValueError) as e:
        if isinstance(e, CalcError):
            raise
        raise CalcError(f"not an expression: {text.strip()[:80]!r}") from None
    except (RecursionError, MemoryError):
        raise CalcError("expression nested too deeply") from None


def format_value(v) -> str:
    """`42` not `42.0`; floats to 10 significant digits; booleans as True/False."""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if v.is_integer():
            return str(int(v))
        return f"{v:.10g}"
    return str(v)
