"""Deterministic tool operators a weak executor can lean on: calculate, retrieve, extract, vote."""
from __future__ import annotations

import re
from collections import Counter

from flowforge import answers as parse
from flowforge.operators import calc
from flowforge.operators.context import OperatorError, OpContext

# Runs of characters that can form an arithmetic/boolean expression.
_EXPR = re.compile(r"(?:[\d\.\s\+\-\*/%\(\)\^×÷<>=!]|True|False|true|false|not\b|and\b|or\b)+")


async def calculate(ctx: OpContext, expression: str) -> str:
    """Arithmetic/boolean expression -> its value as text."""
    try:
        return calc.format_value(calc.evaluate(str(expression)))
    except calc.CalcError as e:
        raise OperatorError(f"calculate: {e}") from None


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


async def retrieve(ctx: OpContext, query: str, k: int = 3) -> list[str]:
    """The k passages of the instance's context that best match `query` (BM25)."""
    from rank_bm25 import BM25Okapi

    passages = [str(p) for p in ctx.context.get("passages") or []]
    if not passages:
        return []
    k = max(1, min(int(k), len(passages)))
    bm25 = BM25Okapi([_tokens(p) or [""] for p in passages])
    scores = bm25.get_scores(_tokens(str(query)))
    order = sorted(range(len(passages)), key=lambda i: (-scores[i], i))
    return [passages[i] for i in order[:k]]


def _expression(text: str) -> str:
    """The longest substring that `calculate` can evaluate (trying at most the 50 longest candidates)."""
    spans = sorted((m.group(0).strip() for m in _EXPR.finditer(text[-parse.MAX_TEXT:])), key=len, reverse=True)
    for s in [s for s in spans if len(s) <= calc.MAX_LEN][:50]:
        s = s.rstrip("=").strip()
        if re.search(r"\d|True|False|true|false", s):
            try:
                calc.evaluate(s)
                return s
            except calc.CalcError:
                continue
    return ""


def _option(text: str) -> str:
    hits = re.findall(r"\(([A-Ra-r])\)", text) or re.findall(r"\b([A-R])\b(?=[\).:]|$)", text)
    return f"({hits[-1].upper()})" if hits else ""


async def extract(ctx: OpContext, text: str, kind: str) -> str:
    """Pull a number, expression, option letter or answer span out of text ("" if none)."""
    text, kind = str(text), str(kind).lower().strip()
    if kind == "number":
        return parse.last_number(text) or ""
    if kind == "expression":
        return _expression(text)
    if kind == "option":
        return _option(text)
    if kind == "span":
        hit = parse.field(text, "answer")
        return (hit if hit is not None else parse.last_line(text)).strip().rstrip(".")
    raise OperatorError(f"extract: kind must be number, expression, span or option, not {kind!r}")


async def vote(ctx: OpContext, answers: list) -> str:
    """The most frequent answer (compared after normalising); ties go to the earliest."""
    if isinstance(answers, str) or not answers:
        raise OperatorError("vote: answers must be a non-empty list")
    items = [a.get("answer", a) if isinstance(a, dict) else a for a in answers]
    keys = [parse.vote_key(str(a)) for a in items]
    counts = Counter(keys)
    best = max(counts.values())
    winner = next(i for i, k in enumerate(keys) if counts[k] == best)
    return str(items[winner])
