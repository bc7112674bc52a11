"""Procedurally generated training families, `synth/<family>`: unlimited, verifiable, and
deterministic per (family, split, index). Each is built so that particular operators win
(`Task.winning_operators`), and different families need different strategies."""
from __future__ import annotations

import random
from types import ModuleType

from flowforge.tasks.synth import arith_word, list_ops, passage_qa
from flowforge.tasks.task import Task
from flowforge.types import Instance

FAMILIES: dict[str, ModuleType] = {"arith_word": arith_word, "list_ops": list_ops, "passage_qa": passage_qa}
# Nominal sizes: train is effectively unlimited; validate/test are fixed index ranges.
SIZES = {"train": 100_000, "validate": 200, "test": 500}


def instance(family: str, split: str, index: int) -> Instance:
    """Instance `index` of a split; the seed is the string "family/split/index" (stable across runs)."""
    inst = FAMILIES[family].make(random.Random(f"{family}/{split}/{index}"))
    inst.id = f"{split}-{index}"
    return inst


def synth_task(family: str) -> Task:
    mod = FAMILIES[family]
    return Task(
        name=f"synth/{family}", domain=mod.DOMAIN, description=mod.DESCRIPTION,
        answer_format=mod.ANSWER_FORMAT, scorer=mod.SCORER, sizes=lambda: dict(SIZES),
        loader=lambda split, start, stop: [instance(family, split, i) for i in range(start, stop)],
        train_splits=["train"], procedural=True, winning_operators=list(mod.WINNING),
        source=mod.__name__,
    )
