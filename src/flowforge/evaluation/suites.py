"""Evaluation suites (ARCHITECTURE.md, Evaluation protocol): which tasks, with which operator set.

Every suite is scored on TEST splits only. `in-domain` is the tasks the generator was trained
on (their training-side splits); `held-out` is never trained on; `new-operators` reruns the
held-out tasks with an operator set that never appears in training.
"""
from __future__ import annotations

from dataclasses import dataclass

from flowforge.errors import UserError
from flowforge.tasks.builtin import BUILTIN
from flowforge.tasks.synth import HELDOUT as SYNTH_HELDOUT, TRAINING as SYNTH_TRAINING

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
# The procedural curriculum (tasks/synth): its training families, and the families held out from them.
SUITES["curriculum"] = tuple(Cell(f"synth/{f}", "default") for f in SYNTH_TRAINING)
SUITES["curriculum-held-out"] = tuple(Cell(f"synth/{f}", "default") for f in SYNTH_HELDOUT)


DEFAULT_SUITE = "held-out"


def suite_cells(suite: str | None, tasks: list[str] | None = None, operators: str | None = None) -> list[Cell]:
    """The table's columns. Neither `suite` nor `tasks`: the held-out suite. `suite` alone: its cells. `tasks` alone: those tasks (built-in names or
    task spec YAML paths) with the default set. Both: the listed tasks, each with the operator
    sets the suite uses (its own cells for a task it holds). `operators` re-points every cell.
    Every task and operator set is loaded here, so an unknown name, a bad spec or an operator
    that does not import fails before anything runs."""
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task

    if suite is None and not tasks:
        suite = DEFAULT_SUITE
    if suite is not None and suite not in SUITES:
        raise UserError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    cells = list(SUITES[suite]) if suite else []
    if tasks:
        for t in tasks:
            get_task(t)
        sets = list(dict.fromkeys(c.operators for c in cells)) or ["default"]
        cells = [c for t in dict.fromkeys(tasks)
                 for c in ([c for c in cells if c.task == t] or [Cell(t, o) for o in sets])]
    if operators:
        cells = list(dict.fromkeys(Cell(c.task, operators) for c in cells))
    for name in dict.fromkeys(c.operators for c in cells):
        load_operator_set(name)
    return cells
