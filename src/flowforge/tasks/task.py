"""The Task record: what the generator reads (description, answer format), how instances load,
and which scorer judges them. Built-in, procedural and user tasks are all this one class."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from flowforge.errors import DataError
from flowforge.types import Instance, Score

DOMAINS = ("qa", "math", "code", "reasoning")

# What an instance can carry for operators, besides its problem (operators declare `needs`).
CONTEXT_KINDS = {
    "passages": "text passages to search (retrieve)",
    "public_tests": "visible assert tests a code answer must pass",
    "entry_point": "the name of the function a code answer defines",
}

# Search and best-of-N selection tune a workflow on the first of these a task has; never on test.
TUNING_SPLITS = ("validate", "train")

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
    # Context kinds its instances provide (CONTEXT_KINDS); None: read off the first instances.
    context_kinds: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise DataError(f"task {self.name}: domain '{self.domain}' is not one of {', '.join(DOMAINS)}")
        unknown = [k for k in self.context_kinds or () if k not in CONTEXT_KINDS]
        if unknown:
            raise DataError(f"task {self.name}: unknown context kind '{unknown[0]}' "
                            f"(known: {', '.join(CONTEXT_KINDS)})")

    @cached_property
    def splits(self) -> dict[str, int]:
        """Split name -> number of instances (procedural families report a nominal size)."""
        return self.sizes()

    @cached_property
    def provides(self) -> frozenset[str]:
        """The context kinds its instances provide: declared, else those the first instances of
        its first split carry (non-empty in at least one)."""
        if self.context_kinds is not None:
            return frozenset(self.context_kinds)
        insts = self.load(next(iter(self.splits)), limit=5) if self.splits else []
        return frozenset(k for k in CONTEXT_KINDS if any(i.context.get(k) for i in insts))

    @property
    def tuning_split(self) -> str | None:
        """The split search and best-of-N selection tune on (validate, else train); None if neither."""
        return next((s for s in TUNING_SPLITS if s in self.splits), None)

    @property
    def training_split(self) -> str:
        """The split training draws from (synthetic data, RL rewards): the first training split."""
        if self.heldout or not self.train_splits:
            raise DataError(f"task {self.name} has no training split (held-out tasks are never trained on)")
        return self.train_splits[0]

    @property
    def smoke_split(self) -> str:
        """The split a smoke run takes unscored inputs from: a training split, else a tuning split,
        else test (a held-out task has only test; its references are never read)."""
        order = [*self.train_splits, *TUNING_SPLITS, "test"]
        return next((s for s in order if s in self.splits), next(iter(self.splits)))

    def sample(self, split: str, k: int, seed: int | str) -> list[Instance]:
        """k consecutive instances of `split` at an offset drawn from `seed` and the task name:
        the same seed gives the same instances."""
        size = self.splits.get(split, 0)
        offset = random.Random(f"{seed}/{self.name}").randrange(max(1, size - k + 1))
        return self.load(split, limit=k, offset=offset)

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
