"""The Task record: what the generator reads (description, answer format), how instances load,
and which scorer judges them. Built-in, procedural and user tasks are all this one class."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from flowforge.errors import DataError
from flowforge.types import Instance, Score

DOMAINS = ("qa", "math", "code", "reasoning")

# loader(split, start, stop) -> instances start..stop-1 of that split (stop clipped to its size)
Loader = Callable[[str, int, int], list[Instance]]


@dataclass
class Task:
    """One task. `description` and `answer_format` describe the family, never one instance."""

    name: str
    domain: str
    description: str
    answer_format: str
    scorer: str  # a key of flowforge.tasks.scorers.SCORERS
    sizes: Callable[[], dict[str, int]] = field(repr=False)
    loader: Loader = field(repr=False)
    heldout: bool = False
    train_splits: list[str] = field(default_factory=list)
    procedural: bool = False
    # Procedural families: the operators a good workflow should lean on. Never shown to the
    # generator; used by synthetic-data building and by tests of the reward spread.
    winning_operators: list[str] = field(default_factory=list)
    source: str = ""  # data folder or spec file, for messages

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise DataError(f"task {self.name}: domain '{self.domain}' is not one of {', '.join(DOMAINS)}")

    @cached_property
    def splits(self) -> dict[str, int]:
        """Split name -> number of instances (procedural families report a nominal size)."""
        return self.sizes()

    def load(self, split: str, limit: int | None = None, offset: int = 0) -> list[Instance]:
        """Instances offset .. offset+limit of `split`, each with context answer_format and domain."""
        if split not in self.splits:
            raise DataError(f"task {self.name} has no split '{split}' (splits: {', '.join(self.splits)})")
        if offset < 0 or (limit is not None and limit < 0):
            raise DataError(f"task {self.name}: offset and limit must be >= 0")
        n = self.splits[split]
        stop = n if limit is None else min(n, offset + limit)
        out = self.loader(split, offset, stop) if offset < stop else []
        for inst in out:
            inst.context.setdefault("answer_format", self.answer_format)
            inst.context.setdefault("domain", self.domain)
        return out

    def score(self, answer: str, instance: Instance) -> Score:
        """Score one final answer. Sync; code scorers run the sandbox. NaN = unscored."""
        from flowforge.tasks.scorers import SCORERS

        return SCORERS[self.scorer]("" if answer is None else str(answer), instance)
