"""Evaluation suites (DESIGN.md, Evaluation protocol): which tasks, with which operator set.

Every suite is scored on TEST splits only. `in-domain` is the tasks the generator was trained
on (their training-side splits); `held-out` is never trained on; `new-operators` reruns the
held-out tasks with an operator set that never appears in training.
"""
from __future__ import annotations

from dataclasses import dataclass

from flowforge.errors import UserError
from flowforge.tasks.builtin import BUILTIN

_HELD = {name: make().heldout for name, make in BUILTIN.items()}
IN_DOMAIN = tuple(name for name, held in _HELD.items() if not held)
HELD_OUT = tuple(name for name, held in _HELD.items() if held)
NEW_OPERATOR_SET = "novel"  # renamed + extended operators, evaluation only
EVAL_SPLIT = "test"


@dataclass(frozen=True)
class Cell:
    """One column of the eval table: a task run with an operator set."""

    task: str
    operators: str

    @property
    def key(self) -> str:
        return self.task if self.operators == "default" else f"{self.task}@{self.operators}"


SUITES: dict[str, tuple[Cell, ...]] = {
    "in-domain": tuple(Cell(t, "default") for t in IN_DOMAIN),
    "held-out": tuple(Cell(t, "default") for t in HELD_OUT),
    "new-operators": tuple(Cell(t, NEW_OPERATOR_SET) for t in HELD_OUT),
}
SUITES["all"] = SUITES["in-domain"] + SUITES["held-out"] + SUITES["new-operators"]


def suite_cells(suite: str, tasks: list[str] | None = None, operators: str | None = None) -> list[Cell]:
    """The cells of a suite, optionally narrowed to `tasks` and/or re-pointed at `operators`."""
    if suite not in SUITES:
        raise UserError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    cells = list(SUITES[suite])
    if tasks:
        known = {c.task for c in cells}
        unknown = [t for t in tasks if t not in known]
        if unknown:
            raise UserError(f"task(s) {', '.join(unknown)} not in suite {suite!r}; "
                            f"it has {', '.join(sorted(known))}")
        cells = [c for c in cells if c.task in tasks]
    if operators:
        cells = list(dict.fromkeys(Cell(c.task, operators) for c in cells))
    return cells
