"""Robust parsing of executor replies. A 135M executor ignores formats half the time, so every
parser has a fallback and never raises on odd text."""
from __future__ import annotations

import re

_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.S)


def field(text: str, name: str) -> str | None:
    """The value after the last `Name:` label (to the end of its line), or None."""
    hits = re.findall(rf"(?im)^\W*{re.escape(name)}\s*[:：]\s*(.+)$", text)
    if not hits:
        hits = re.findall(rf"(?i){re.escape(name)}\s*[:：]\s*(.+)", text)
    return hits[-1].strip().strip("*").strip() if hits else None


def before(text: str, name: str) -> str:
    """Everything before the last `Name:` label (e.g. the reasoning before `Answer:`)."""
    idx = text.lower().rfind(name.lower() + ":")
    return text[:idx].strip() if idx >= 0 else text.strip()


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def last_number(text: str) -> str | None:
    """The last number in `text`, with thousands separators and `$` removed."""
    hits = _NUMBER.findall(text)
    if not hits:
        return None
    num = hits[-1].replace(",", "").replace("$", "")
    return num[:-2] if num.endswith(".0") else num


def code(text: str, entry_point: str | None = None) -> str:
    """Python code from a reply: the fenced block defining `entry_point` if any, else the longest
    fenced block, else the reply itself."""
    blocks = [b.strip() for b in _FENCE.findall(text) if b.strip()]
    if not blocks:
        return text.strip().strip("`").strip()
    if entry_point:
        for b in blocks:
            if re.search(rf"def\s+{re.escape(entry_point)}\s*\(", b):
                return b
    return max(blocks, key=len)


def yes_no(text: str) -> bool | None:
    """True/False from a verdict reply ("yes", "correct", "true"...), None when unclear."""
    words = re.findall(r"[a-z]+", text.lower())[:40]
    for w in words:
        if w in ("yes", "correct", "true", "right", "valid", "pass", "passed"):
            return True
        if w in ("no", "incorrect", "false", "wrong", "invalid", "fail", "failed"):
            return False
    return None


def normalise(answer: str) -> str:
    """Canonical form for comparing answers: lower case, no surrounding punctuation/space."""
    a = str(answer).strip().lower().strip(" .;:!\"'`")
    n = last_number(a) if _NUMBER.fullmatch(a.replace(" ", "")) else None
    return n if n is not None else re.sub(r"\s+", " ", a)
