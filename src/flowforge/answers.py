"""Parsing answers out of model text: code blocks, numbers, boxed values, labelled fields,
normalised forms. The one place operators, scorers and the workflow generator parse replies.

Every function takes untrusted text of any size: inputs are capped (MAX_TEXT, keeping the tail,
where final answers live) and every scan is linear (fences are found with str.find; no regex
here backtracks over a run of spaces or newlines). None of them raises on odd text.
"""
from __future__ import annotations

import re
import string

MAX_TEXT = 200_000  # characters of a reply that parsing looks at (the last ones)

_NUMBER = re.compile(r"-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_ANSWER_IS = re.compile(r"(?:final answer|answer)[ \t]*(?:is|:)[ \t]*:?([^\n]*)", re.I)
_FENCE_LANG = re.compile(r"[\w+-]*")
_CODE_START = re.compile(r"^(?:async[ \t]+def|def|class|import|from|@)\b", re.M)


def _cap(text) -> str:
    text = "" if text is None else str(text)
    return text[-MAX_TEXT:] if len(text) > MAX_TEXT else text


# ---- code ------------------------------------------------------------------------------------


def code_blocks(text: str) -> list[str]:
    """The bodies of ``` fenced blocks (a last unterminated fence runs to the end), in order."""
    text = _cap(text)
    blocks, i = [], 0
    while True:
        start = text.find("```", i)
        if start < 0:
            return blocks
        eol = text.find("\n", start + 3)
        if eol < 0:
            return blocks
        info = text[start + 3:eol].strip()
        if not _FENCE_LANG.fullmatch(info):  # ``` inside a line of prose, not a fence opening
            i = start + 3
            continue
        end = text.find("```", eol + 1)
        blocks.append(text[eol + 1:] if end < 0 else text[eol + 1:end])
        if end < 0:
            return blocks
        i = end + 3


def _defines(block: str, name: str) -> bool:
    return re.search(rf"\bdef[ \t]+{re.escape(name)}[ \t]*\(", block) is not None


def _trim(code: str) -> str:
    """Drop trailing space and leading blank lines; keep the first line's indentation (a
    HumanEval completion is an indented function body)."""
    lines = code.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def _parses(text: str) -> bool:
    import ast

    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def code(text: str, defines: str | None = None) -> str:
    """The program in a reply: the fenced block that defines `defines` if any, else the longest
    fenced block; with no fence, the text from the line defining `defines` on (else all of it)."""
    text = _cap(text)
    blocks = [b for b in code_blocks(text) if b.strip()]
    if blocks:
        if defines:
            for b in blocks:
                if _defines(b, defines):
                    return _trim(b)
        return _trim(max(blocks, key=len))
    if defines and not _parses(text):  # drop prose before the code: start at its first top-level statement
        m = re.search(rf"^(?:async[ \t]+)?def[ \t]+{re.escape(defines)}[ \t]*\(", text, re.M)
        if m:
            first = _CODE_START.search(text, 0, m.start() + 1)
            return _trim(text[first.start() if first else m.start():])
    return _trim(text.strip("`"))


# ---- numbers -------------------------------------------------------------------------------


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (nested braces allowed), or None."""
    text = _cap(text)
    start = max(text.rfind("\\boxed{"), text.rfind("\\boxed {"))
    if start < 0:
        return None
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1: j]
    return None  # unbalanced


def _canonical(num: str) -> str:
    num = num.replace(",", "").replace("$", "")
    if "." in num and "/" not in num:
        num = num.rstrip("0").rstrip(".") if num.split(".")[1].strip("0") == "" else num
    return num


def last_number(text: str) -> str | None:
    """The final number of an answer, as text ("1234", "-3", "0.5", "3/4"): inside the last
    \\boxed{} if it holds one, else the first number after the last `####`, else the last number.
    Thousands separators and `$` are dropped, and a zero fraction ("7.0") too."""
    text = _cap(text)
    boxed = last_boxed(text)
    if boxed is not None and _NUMBER.search(boxed):
        text = boxed
    elif "####" in text:
        m = _NUMBER.search(text.rsplit("####", 1)[1])
        if m:
            return _canonical(m.group(0))
    found = _NUMBER.findall(text)
    return _canonical(found[-1]) if found else None


def to_number(s) -> float | None:
    """float of "1,234", "$5", "3/4"; None if it is not a number."""
    if s is None:
        return None
    s = str(s).strip().replace(",", "").replace("$", "")
    try:
        if "/" in s:
            a, b = s.split("/", 1)
            return float(a) / float(b)
        return float(s)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


# ---- labelled spans ----------------------------------------------------------------------------


def field(text: str, name: str) -> str | None:
    """The value after the last `Name:` label (to the end of its line), or None. Prefers a label
    at the start of a line (after markup such as `**`)."""
    text = _cap(text)
    label = re.compile(rf"{re.escape(name)}[ \t]*[:：]", re.I)
    best = at_line_start = None
    prev_line = -1
    for m in label.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        # a second label on a line has the first one's letters before it: only the first is scanned
        starts = line_start != prev_line and not any(c.isalnum() for c in text[line_start:m.start()])
        prev_line = line_start
        if starts or at_line_start is not True:
            best, at_line_start = m, starts or bool(at_line_start)
    if best is None:
        return None
    end = text.find("\n", best.end())
    value = text[best.end(): end if end >= 0 else len(text)].strip().strip("*").strip()
    if not value:  # "Answer:" alone on its line: the value is on the next non-empty line
        rest = text[best.end():].lstrip()
        value = rest.split("\n", 1)[0].strip().strip("*").strip() if rest else ""
    return value or None


def before(text: str, name: str) -> str:
    """Everything before the last `Name:` label (e.g. the reasoning before `Answer:`)."""
    text = _cap(text)
    idx = text.lower().rfind(name.lower() + ":")
    return text[:idx].strip() if idx >= 0 else text.strip()


def last_line(text: str) -> str:
    text = _cap(text).rstrip()
    for line in reversed(text.split("\n")[-10_000:]):
        if line.strip():
            return line.strip()
    return ""


def final_answer_text(text: str) -> str:
    """The span after the last 'answer is' / 'Answer:' (up to the line end), else the text."""
    text = _cap(text)
    hits = [h.strip() for h in _ANSWER_IS.findall(text)]
    hits = [h for h in hits if h]
    return hits[-1] if hits else text.strip()


def answer_or_last_line(text: str) -> str:
    """'The answer is X' / 'Answer: X' if present, else the last non-empty line."""
    text = _cap(text)
    hits = [h.strip() for h in _ANSWER_IS.findall(text)]
    hits = [h for h in hits if h]
    return hits[-1] if hits else last_line(text)


def yes_no(text: str) -> bool | None:
    """True/False from a verdict reply ("yes", "correct", "true"...), None when unclear."""
    words = re.findall(r"[a-z]+", str(text)[:2000].lower())[:40]
    for w in words:
        if w in ("yes", "correct", "true", "right", "valid", "pass", "passed"):
            return True
        if w in ("no", "incorrect", "false", "wrong", "invalid", "fail", "failed"):
            return False
    return None


# ---- comparing answers ----------------------------------------------------------------------

_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    s = _cap(text).lower().translate(_PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def vote_key(answer: str) -> str:
    """Canonical form for counting votes: lower case, no surrounding punctuation/space, and a
    bare number in canonical form ("1,000." and "1000" agree)."""
    a = _cap(answer).strip().lower().strip(" .;:!\"'`")
    if _NUMBER.fullmatch(a.replace(" ", "")):
        return _canonical(a.replace(" ", ""))
    return " ".join(a.split())
