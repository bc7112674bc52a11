"""User tasks: a YAML spec plus JSONL files. `get_task("path/to/spec.yaml")` loads one.

    name: my_qa                     # required
    domain: qa                      # qa | math | code | reasoning
    description: Questions about ... (the task family, never one instance)
    answer_format: a short span
    scorer: f1                      # a key of flowforge.tasks.scorers.SCORERS
    fields:
      problem: question             # a row key, or a template such as "{passage}\\n\\nQ: {question}"
      reference: answer             # a row key (for code_tests: a key holding a list of asserts)
      context:                      # optional: what instances provide, context kind -> row key
        passages: paragraphs        # kinds: passages, public_tests, entry_point (see CONTEXT_KINDS)
    splits:                         # split -> JSONL file, relative to the spec
      validate: dev.jsonl
      test: test.jsonl
    train_splits: [validate]        # optional: splits training may draw from
    heldout: true                   # optional: default true (zero-shot only) unless train_splits is set
"""
from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from flowforge.errors import DataError
from flowforge.tasks.jsonl import count_rows, field, read_jsonl
from flowforge.tasks.task import CONTEXT_KINDS, Task
from flowforge.types import Instance


class Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    problem: str
    reference: str
    context: dict[str, str] = {}


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    domain: Literal["qa", "math", "code", "reasoning"]
    description: str
    answer_format: str
    scorer: str
    fields: Fields
    splits: dict[str, str]
    train_splits: list[str] = []
    heldout: bool | None = None


def _template_keys(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def _get(row: dict[str, Any], key_or_template: str, path: Path, line: int) -> Any:
    if "{" not in key_or_template:
        return field(row, key_or_template, path, line)
    for k in _template_keys(key_or_template):
        field(row, k, path, line)
    return key_or_template.format_map(row)


def load_task_spec(path: str | Path) -> Task:
    """Parse and check a YAML task spec; its data files are checked when a split is loaded."""
    from flowforge.tasks.scorers import SCORERS

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: task spec not found")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(f"{p}: not a UTF-8 text file") from None
    except yaml.MarkedYAMLError as e:
        where = f":{e.problem_mark.line + 1}" if e.problem_mark else ""
        raise DataError(f"{p}{where}: invalid YAML ({e.problem or e})") from None
    except yaml.YAMLError as e:  # e.g. ReaderError (a control character): no line mark
        raise DataError(f"{p}: invalid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{p}: a task spec must be a YAML mapping")
    try:
        spec = TaskSpec.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise DataError(f"{p}: field '{loc}': {err['msg']}") from None
    if spec.scorer not in SCORERS:
        raise DataError(f"{p}: field 'scorer': unknown scorer '{spec.scorer}' (choose from {', '.join(SCORERS)})")
    for kind in spec.fields.context:
        if kind not in CONTEXT_KINDS:
            raise DataError(f"{p}: field 'fields.context.{kind}': unknown context kind '{kind}' "
                            f"(known: {', '.join(CONTEXT_KINDS)})")
    if not spec.splits:
        raise DataError(f"{p}: field 'splits': at least one split -> JSONL file is needed")
    for s in spec.train_splits:
        if s not in spec.splits:
            raise DataError(f"{p}: field 'train_splits': '{s}' is not one of the splits ({', '.join(spec.splits)})")
    if spec.heldout and spec.train_splits:
        raise DataError(f"{p}: field 'heldout': a held-out task cannot have train_splits")
    heldout = not spec.train_splits if spec.heldout is None else spec.heldout
    files = {s: (p.parent / f).resolve() for s, f in spec.splits.items()}
    for s, f in files.items():
        if not f.is_file():
            raise DataError(f"{p}: split '{s}': data file {f} not found")

    def loader(split: str, start: int, stop: int) -> list[Instance]:
        path = files[split]
        out = []
        for k, (line, row) in enumerate(read_jsonl(path)[start:stop], start=start):
            ctx = {c: _get(row, key, path, line) for c, key in spec.fields.context.items()}
            problem = _get(row, spec.fields.problem, path, line)
            ref = _get(row, spec.fields.reference, path, line)
            if spec.scorer == "code_tests":
                ep = ctx.get("entry_point") or _entry_point(ctx, ref, path, line)
                ref = {"tests": ref, "entry_point": ep}
            out.append(Instance(str(row.get("id", f"{split}-{k}")), str(problem), ref, ctx))
        return out

    def sizes() -> dict[str, int]:
        return {s: len(read_jsonl(f)) for s, f in files.items()}

    return Task(name=spec.name, domain=spec.domain, description=spec.description,
                answer_format=spec.answer_format, scorer=spec.scorer, sizes=sizes, loader=loader,
                heldout=heldout, train_splits=spec.train_splits, source=str(p),
                context_kinds=tuple(spec.fields.context))


def _entry_point(ctx: dict[str, Any], tests: Any, path: Path, line: int) -> str:
    m = re.search(r"assert\s+(?:not\s+)?\(?\s*([A-Za-z_]\w*)\s*\(", tests if isinstance(tests, str) else "\n".join(tests))
    if not m:
        raise DataError(f"{path}:{line}: code task needs context 'entry_point' (no function call found in the tests)")
    return m.group(1)


__all__ = ["TaskSpec", "load_task_spec", "count_rows"]
