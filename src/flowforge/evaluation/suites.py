"""Evaluation suites (DESIGN.md, Evaluation protocol): which tasks, with which operator set.

Every suite is scored on TEST splits only. `in-domain` is the tasks the generator was trained
on (their training-side splits); `held-out` is never trained on; `new-operators` reruns the
held-out tasks with an operator set that never appears in training.
"""
from __future__ import annotations

from dataclasses import dataclass

from flowforge.errors import UserError

BBH_TRAIN = (
    "causal_judgement", "disambiguation_qa", "formal_fallacies", "logical_deduction_three_objects",
    "logical_deduction_seven_objects", "movie_recommendation", "multistep_arithmetic_two",
    "reasoning_about_colored_objects", "salient_translation_error_detection", "snarks",
    "tracking_shuffled_objects_three_objects", "tracking_shuffled_objects_five_objects",
)
BBH_HELDOUT = (
    "boolean_expressions", "dyck_languages", "geometric_shapes", "hyperbaton", "ruin_names",
    "temporal_sequences", "tracking_shuffled_objects_seven_objects",
)
IN_DOMAIN = ("gsm8k", "math", "mbpp", "drop", *(f"bbh/{t}" for t in BBH_TRAIN))
HELD_OUT = ("hotpotqa", "humaneval", *(f"bbh/{t}" for t in BBH_HELDOUT))
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
