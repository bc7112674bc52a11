"""Deterministic text tools for structured content inside a problem: tables, lists of values,
lists of options, evidence sentences. Each does one general job and none answers a question by
itself; a workflow composes them with `retrieve`, `calculate` and `vote`."""
from __future__ import annotations

import re
from typing import Any

from flowforge import answers as parse
from flowforge.operators.context import OperatorError, OpContext

_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?!\w)")  # 1,250.50 and -3; not the 2 of "x2"
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*")
_QUOTE = re.compile(r"\"([^\"\n]{1,200})\"")
_CODE = re.compile(r"`([^`\n]{1,200})`")
_OPTION_LINE = re.compile(r"^\s*\(([A-Za-z])\)\s*(.+?)\s*$", re.M)
_STOP = frozenset(
    "a an the of in on at to by for from with and or is are was were be been it its this that which who whom "
    "whose what when where how many much did does do has have had as than then there their can could will".split())
_SENTENCE_START = frozenset({"The", "A", "An", "Which", "What", "Who", "How", "In", "On", "At", "Of", "It", "This",
                             "That", "There", "When", "Where", "Question", "Answer", "Each", "Every"})


async def parse_table(ctx: OpContext, text: str) -> list:
    """Rows of the first table in `text` (Markdown with `|`, or comma-separated), keyed by header."""
    lines = [ln.strip() for ln in str(text).splitlines()]
    block = _first_block(lines, lambda ln: ln.count("|") >= 2)
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in block
             if not re.fullmatch(r"[\s|:\-]+", ln)]
    if not cells:
        block = _first_block(lines, lambda ln: ln.count(",") >= 1)
        cells = [[c.strip() for c in ln.split(",")] for ln in block]
    if len(cells) < 2:
        raise OperatorError("parse_table: no table with a header and at least one row in `text`")
    header = cells[0]
    return [dict(zip(header, row)) for row in cells[1:] if len(row) == len(header)]


def _first_block(lines: list[str], is_row) -> list[str]:
    """The first run of consecutive lines that satisfy `is_row`."""
    out: list[str] = []
    for ln in lines:
        if is_row(ln):
            out.append(ln)
        elif out:
            break
    return out


async def find_all(ctx: OpContext, text: str, kind: str) -> list:
    """Every "number", "name" (capitalised words), "quote" or `code` span in `text`, in order."""
    text, kind = str(text)[-parse.MAX_TEXT:], str(kind).lower().strip()
    if kind == "number":
        return [m.group(0).replace(",", "") for m in _NUMBER.finditer(text)]
    if kind == "name":
        names = []
        for m in _NAME.finditer(text):
            words = m.group(0).split(" ")
            while words and words[0] in _SENTENCE_START:
                words = words[1:]
            if words:
                names.append(" ".join(words))
        return names
    if kind == "quote":
        return _QUOTE.findall(text)
    if kind == "code":
        return _CODE.findall(text)
    raise OperatorError(f"find_all: kind must be number, name, quote or code, not {kind!r}")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _stem(word: str) -> str:
    """A crude stem so that design/designed/designer and stand/stands agree."""
    return (re.sub(r"(ing|ed|es|er|s)$", "", word) if len(word) > 4 else word)[:5]


def _as_text(item: Any) -> str:
    if isinstance(item, dict):
        return " ".join(f"{k} {v}" for k, v in item.items())
    return str(item)


async def best_match(ctx: OpContext, query: str, items: list) -> Any:
    """The item of `items` (texts, or table rows) sharing the most rare words with `query`."""
    if isinstance(items, (str, dict)) or not items:
        raise OperatorError("best_match: items must be a non-empty list")
    docs = [{_stem(w) for w in _words(_as_text(i)) if w not in _STOP} for i in items]
    df: dict[str, int] = {}
    for d in docs:
        for w in d:
            df[w] = df.get(w, 0) + 1
    wanted = {_stem(w) for w in _words(str(query)) if w not in _STOP}
    n = len(items)

    def score(d: set[str]) -> float:  # idf-weighted overlap: rare shared words count most
        return sum(1.0 + (n - df[w]) / n for w in d & wanted)

    best = max(range(n), key=lambda i: (score(docs[i]), -i))
    return items[best]


async def novel_words(ctx: OpContext, text: str, query: str) -> str:
    """The words of `text` that `query` does not mention (ignoring case, endings and stopwords)."""
    seen = {_stem(w) for w in _words(str(query))}
    kept = [tok for tok in re.findall(r"[\w'’-]+", str(text))
            if tok.lower() not in _STOP and _stem(tok.lower()) not in seen]
    return " ".join(kept)


async def match_option(ctx: OpContext, text: str, answer: str) -> str:
    """The letter, like (C), of the option listed in `text` as "(C) ..." closest to `answer`."""
    options = _OPTION_LINE.findall(str(text))
    if not options:
        raise OperatorError("match_option: `text` lists no options written as (A) ...")
    want = parse.normalize(str(answer))
    num = parse.to_number(parse.last_number(str(answer)) or "") if _NUMBER.search(str(answer)) else None

    def closeness(opt: str) -> tuple[float, float]:
        exact = float(parse.normalize(opt) == want)
        if num is not None and exact == 0.0:
            v = parse.to_number(parse.last_number(opt) or "")
            exact = float(v is not None and abs(v - num) < 1e-9)
        a, b = set(parse.normalize(opt).split()), set(want.split())
        overlap = 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0
        return exact, overlap

    letter, _ = max(options, key=lambda o: closeness(o[1]))
    return f"({letter.upper()})"
