"""The run directory: results.jsonl, traces.jsonl, summary.json, run.json, workflow.py.

Each finished instance appends its trace lines then its result line, each flushed and fsynced,
so a killed run loses at most the instances in flight. Opening an existing directory resumes:
a torn last line is cut off, results that ask to be retried (RETRY_ERRORS: the backend never
answered) and traces of unfinished instances are dropped, and `finished` holds the instances to
skip. run.json pins the task, split, workflow and executor of the directory.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from flowforge.errors import UserError
from flowforge.store import JsonlAppender, read_records, write_records
from flowforge.types import InstanceResult, OperatorCall, Usage

RETRY_ERRORS = ("BackendTimeout",)  # error prefixes of results that a resume runs again
MAX_DEPTH = 64  # deeper values in a trace are cut (they come from sandboxed code)


def workflow_sha(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _json_safe(x: Any, depth: int = 0) -> Any:
    """NaN -> null, non-JSON values -> str, recursively; nesting beyond MAX_DEPTH -> a marker."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    if depth >= MAX_DEPTH:
        return "<nested too deep>"
    if isinstance(x, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in x]
    return str(x)[:10_000]


def result_line(r: InstanceResult) -> dict:
    d = r.to_dict()
    return _json_safe({"id": d.pop("instance_id"), **d})


def result_from_line(d: dict) -> InstanceResult:
    score = d.get("score")
    return InstanceResult(
        instance_id=d["id"], answer=d.get("answer", ""),
        score=float("nan") if score is None else float(score), error=d.get("error"),
        usage=Usage(**d.get("usage", {})), seconds=float(d.get("seconds", 0.0)),
        explanation=d.get("explanation", ""),
    )


class RunDir:
    def __init__(self, path: Path, *, meta: dict[str, Any], source: str):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path} is a file, not a run directory; use another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        self.meta = {**meta, "workflow_sha": workflow_sha(source)}
        run_json = self.path / "run.json"
        if run_json.exists():
            try:
                old = json.loads(run_json.read_text())
            except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
                raise UserError(f"{run_json}: not a flowforge run file ({e}); use another --out directory") from None
            if not isinstance(old, dict):
                raise UserError(f"{run_json}: not a flowforge run file; use another --out directory")
            diff = [k for k in self.meta if old.get(k) != self.meta[k]]
            if diff:
                raise UserError(f"{self.path} holds a different run ({', '.join(f'{k}: {old.get(k)!r}' for k in diff)}); "
                                "use another --out directory")
        else:
            _write_atomic(run_json, json.dumps(self.meta, indent=2))
        (self.path / "workflow.py").write_text(source)
        self.results_path, self.traces_path = self.path / "results.jsonl", self.path / "traces.jsonl"
        rows = read_records(self.results_path)
        keep = [d for d in rows if not str(d.get("error") or "").startswith(RETRY_ERRORS)]
        if len(keep) != len(rows):  # to be run again: drop them (their traces go below)
            write_records(self.results_path, keep)
        self.finished = {d["id"]: result_from_line(d) for d in keep}
        traces = read_records(self.traces_path)
        kept = [t for t in traces if t.get("instance_id") in self.finished]
        if len(kept) != len(traces):  # drop traces of instances that never finished
            write_records(self.traces_path, kept)
        self._results = JsonlAppender(self.results_path, sync=True)
        self._traces = JsonlAppender(self.traces_path, sync=True)

    def append(self, result: InstanceResult, calls: list[OperatorCall]) -> None:
        """Traces first, then the result line: a result on disk means its traces are too."""
        self._traces.extend([_json_safe({
            "instance_id": result.instance_id, "operator": c.operator, "inputs": c.inputs,
            "output": c.output, "usage": c.usage.to_dict(), "seconds": round(c.seconds, 4),
            "error": c.error}) for c in calls])
        self._results.append(result_line(result))
        self.finished[result.instance_id] = result

    def complete(self, ids: list[str]) -> bool:
        """Whether every instance in `ids` has a final result line on disk."""
        return all(i in self.finished and not (self.finished[i].error or "").startswith(RETRY_ERRORS) for i in ids)

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_atomic(self.path / "summary.json", json.dumps(_json_safe({**self.meta, **summary}), indent=2))

    def close(self) -> None:
        self._results.close()
        self._traces.close()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
