"""Implementation keys -> functions. Operator-set YAML names one in each operator's `impl` field:
a built-in key of `IMPLS`, or `package.module:function` for an operator written in user code.

A user implementation is an `async def f(ctx, <arguments>)` like the built-ins: `ctx` is the
`OpContext` (executor, instance context, usage meter) and the other parameters match the
operator's signature by name and by which have defaults. It runs in the host process (it is the
user's own code), and whatever it raises reaches the workflow as an `OperatorError`.
"""
from __future__ import annotations

import importlib
import inspect
import re
from typing import Any, Awaitable, Callable

from flowforge.operators import code_ops, llm_ops, text_tools, tools

Impl = Callable[..., Awaitable[Any]]

IMPLS: dict[str, Impl] = {
    "generate": llm_ops.generate,
    "answer_generate": llm_ops.answer_generate,
    "sc_ensemble": llm_ops.sc_ensemble,
    "review": llm_ops.review,
    "revise": llm_ops.revise,
    "format": llm_ops.format,
    "decompose": llm_ops.decompose,
    "verify": llm_ops.verify,
    "code_generate": code_ops.code_generate,
    "programmer": code_ops.programmer,
    "test": code_ops.test,
    "run_tests": code_ops.run_tests,
    "calculate": tools.calculate,
    "retrieve": tools.retrieve,
    "extract": tools.extract,
    "vote": tools.vote,
    "parse_table": text_tools.parse_table,
    "find_all": text_tools.find_all,
    "best_match": text_tools.best_match,
    "novel_words": text_tools.novel_words,
    "match_option": text_tools.match_option,
}

_USER_KEY = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_loaded: dict[str, Impl] = {}


class ImplError(ValueError):
    """An `impl` key that names no usable function (unknown key, failed import, wrong signature)."""


def impl_function(key: str) -> Impl:
    """The function behind `key`: a built-in, or `package.module:function` imported once from
    user code (the module must be importable: installed, or beside the operator-set YAML)."""
    if key in IMPLS:
        return IMPLS[key]
    if key in _loaded:
        return _loaded[key]
    if not _USER_KEY.match(key):
        raise ImplError(f"impl {key!r} is unknown; use a built-in ({', '.join(sorted(IMPLS))}) "
                        "or 'package.module:function' from your own code")
    module_name, attr = key.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # any import-time failure of user code is a configuration error
        raise ImplError(f"impl {key!r}: cannot import module {module_name!r} "
                        f"({type(e).__name__}: {' '.join(str(e).split())})") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise ImplError(f"impl {key!r}: module {module_name!r} has no attribute {attr!r}")
    if not inspect.iscoroutinefunction(fn):
        raise ImplError(f"impl {key!r}: {attr} must be an `async def` function taking (ctx, ...)")
    params = list(inspect.signature(fn).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or params[0].kind not in positional:
        raise ImplError(f"impl {key!r}: the first parameter of {attr} must be the operator context `ctx`")
    odd = [p.name for p in params[1:] if p.kind not in (*positional, inspect.Parameter.KEYWORD_ONLY)]
    if odd:
        raise ImplError(f"impl {key!r}: {attr} must name each argument, not collect them in {odd[0]!r}, "
                        "so that the operator signature can be checked against it")
    _loaded[key] = fn
    return fn


def impl_arguments(fn: Impl) -> list[tuple[str, bool]]:
    """(name, required) for each argument an implementation takes after `ctx`."""
    return [(p.name, p.default is inspect.Parameter.empty)
            for p in list(inspect.signature(fn).parameters.values())[1:]]
