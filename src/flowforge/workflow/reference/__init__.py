"""Reference workflows: the fixed baselines (io, cot, cot_sc, self_refine, programmer_sc,
code_test, retrieve_answer), shipped as package data and addressable by name.

    from flowforge.workflow.reference import reference_names, resolve_workflow
    resolve_workflow("cot")            # -> .../flowforge/workflow/reference/cot.py
    resolve_workflow("my_flow.py")     # an existing file is taken as it is

The `.py` files beside this module are workflow sources read as text, never imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flowforge.errors import UserError

if TYPE_CHECKING:
    from flowforge.operators import OperatorSet

REFERENCE_DIR = Path(__file__).resolve().parent


def reference_names() -> list[str]:
    return sorted(p.stem for p in REFERENCE_DIR.glob("*.py") if not p.stem.startswith("_"))


def reference_path(name: str) -> Path:
    """The file of reference workflow `name`; UserError naming the choices when there is none."""
    path = REFERENCE_DIR / f"{name}.py"
    if name.startswith("_") or "/" in name or not path.is_file():
        raise UserError(f"unknown reference workflow {name!r}; choose from {', '.join(reference_names())} "
                        "or give a workflow file path")
    return path


def resolve_workflow(arg: str | Path) -> Path:
    """A workflow argument as a file: an existing path as given, else a reference workflow name.
    A path-like argument (ending in .py or holding a separator) that does not exist is an error."""
    path = Path(arg)
    if path.is_file():
        return path
    text = str(arg)
    if text.endswith(".py") or "/" in text or "\\" in text:
        raise UserError(f"workflow file {arg} does not exist")
    return reference_path(text)


@dataclass(frozen=True)
class Reference:
    """A reference workflow checked against an operator set."""

    name: str
    source: str
    operators: str  # the set it validated against (the requested one, or `default` as a fallback)
    label: str


def load_reference(name: str, opset: "OperatorSet") -> Reference:
    """Reference workflow `name` (or a workflow file) validated against `opset`. When it uses operators `opset` lacks
    (a renamed set), it falls back to the default set and the label says so."""
    from flowforge.operators import load_operator_set
    from flowforge.workflow.validate import workflow_errors

    path = resolve_workflow(name)
    source = path.read_text(encoding="utf-8")
    errors = workflow_errors(source, opset)
    if not errors:
        return Reference(name, source, opset.name, f"fixed ({path.name})")
    if opset.name != "default" and not workflow_errors(source, load_operator_set("default")):
        return Reference(name, source, "default", f"fixed ({path.name}, default operators)")
    raise UserError(f"{path}: {errors[0]}")
