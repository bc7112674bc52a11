"""Strict JSONL reading (task data, SFT data): every problem is a DataError naming the file and line."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from flowforge.errors import DataError


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) for every non-blank line of task data (DataError when there is none).
    Cached per path; callers must not mutate."""
    return _read(str(Path(path).resolve()))


@lru_cache(maxsize=128)
def _read(path: str) -> list[tuple[int, dict[str, Any]]]:
    rows = parse_jsonl(path)
    if not rows:
        raise DataError(f"{path}: empty file, no instances")
    return rows


def parse_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) for every non-blank line, uncached: for files a process may rewrite."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: data file not found")
    raw = p.read_bytes()
    rows: list[tuple[int, dict[str, Any]]] = []
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if b"\x00" in line:
            raise DataError(f"{path}:{lineno}: binary data (NUL byte); expected UTF-8 JSON lines")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{lineno}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg}, column {e.colno})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        rows.append((lineno, row))
    return rows


def count_rows(path: str | Path) -> int:
    """Number of non-blank lines, without parsing (for split sizes in listings)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: data file not found")
    with p.open("rb") as f:
        return sum(1 for line in f if line.strip())


def field(row: dict[str, Any], key: str, path: str | Path, lineno: int) -> Any:
    """row[key], or a DataError naming file, line and the fields the row does have."""
    if key not in row:
        have = ", ".join(sorted(row)) or "none"
        raise DataError(f"{path}:{lineno}: missing field '{key}' (row has: {have})")
    return row[key]
