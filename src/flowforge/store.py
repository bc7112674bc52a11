"""The resumable JSONL store every append-only record file uses: run results and traces,
synth candidates, search history, training logs.

A writer appends one JSON object per line and flushes it (`fsync` where a kill must lose at
most the line in flight). A process killed mid-write leaves a torn last line: one with no
newline, or a last line that does not parse. Every reader ignores it, and `JsonlAppender` cuts
it off before appending, so a resumed writer never glues a new record onto half an old one. A
bad line anywhere else is not a crash artefact: it is a DataError naming the file and line.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flowforge.errors import DataError


def _scan(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(records, byte length of the intact prefix) of `path`."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    lines = data.split(b"\n")  # the last item is the unterminated tail (b"" after a final newline)
    last = max((i for i, line in enumerate(lines[:-1], 1) if line.strip()), default=0)
    records, good = [], 0
    for i, line in enumerate(lines[:-1], 1):
        if line.strip():
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError(f"expected a JSON object, got {type(rec).__name__}")
            except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
                if i == last and not lines[-1].strip():
                    break  # the last line, unreadable: torn
                raise DataError(f"{path}:{i}: not a record line ({e}); the file was edited or is not flowforge's") from None
            records.append(rec)
        good += len(line) + 1
    return records, good


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Every complete record of a JSONL file (none if it does not exist); a torn last line is ignored."""
    return _scan(Path(path))[0]


def write_records(path: str | Path, records: list[dict[str, Any]]) -> None:
    """Replace the file with `records`, atomically."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, path)


class JsonlAppender:
    """Appends records to a JSONL file after cutting off a torn last line; `records` holds what
    the file held when opened. `sync=True` fsyncs every line (run results: a kill loses at most
    the line in flight)."""

    def __init__(self, path: str | Path, *, sync: bool = False):
        self.path, self.sync = Path(path), sync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records, good = _scan(self.path)
        if self.path.exists() and good != self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good)
        self._f = open(self.path, "a")

    def append(self, record: dict[str, Any]) -> None:
        self.extend([record])

    def extend(self, records: list[dict[str, Any]]) -> None:
        """Append `records`, then flush (and fsync) once."""
        self._f.write("".join(json.dumps(r) + "\n" for r in records))
        self._f.flush()
        if self.sync:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
