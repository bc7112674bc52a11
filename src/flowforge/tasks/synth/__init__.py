"""Procedurally generated task families, `synth/<family>`: unlimited, verifiable, and
deterministic per (family, split, index). Each is built so that a particular composition of
operators wins (`Task.winning_operators`) and the executor alone does not, and different
families need different compositions.

The transfer split. Held-out families (`Family.heldout`) are never trained on, synthesised from
or selected on: their best workflow uses only operators that training families use, but in a
combination or a context that no training family's best workflow has as a whole (two retrievals
chained; a table aggregated instead of looked up; parts compared instead of counted; ...).
"""
from __future__ import annotations

import random

from flowforge.tasks.synth.family import Family
from flowforge.tasks.task import Task
from flowforge.types import Instance


def _families() -> dict[str, Family]:
    from flowforge.tasks.synth import arith_word, code_fams, list_ops, math_fams, passage_qa, qa_fams, reason_fams

    out = {n: Family.from_module(n, m) for n, m in
           {"arith_word": arith_word, "list_ops": list_ops, "passage_qa": passage_qa}.items()}
    for mod in (math_fams, qa_fams, reason_fams, code_fams):
        out.update({f.name: f for f in mod.FAMILIES})
    return out


FAMILIES: dict[str, Family] = _families()
# No composition scores above 0 on these with the 135M executor (results/curriculum.json: the
# arithmetic is too long to extract, the code too hard to write), so they carry no signal: they
# stay tasks, outside the curriculum.
WITHOUT_SIGNAL = ("arith_word", "list_ops")
TRAINING = tuple(n for n, f in FAMILIES.items() if not f.heldout and n not in WITHOUT_SIGNAL)
HELDOUT = tuple(n for n, f in FAMILIES.items() if f.heldout)
# Nominal sizes: train is effectively unlimited; validate/test are fixed index ranges. Streams are
# disjoint by seed ("family/split/index"), and tests check that no problem text repeats across them.
# Held-out families have no train split at all.
SIZES = {"train": 100_000, "validate": 200, "test": 500}
HELDOUT_SIZES = {"validate": 200, "test": 500}


def instance(family: str, split: str, index: int) -> Instance:
    """Instance `index` of a split; the seed is the string "family/split/index" (stable across runs)."""
    inst = FAMILIES[family].make(random.Random(f"{family}/{split}/{index}"))
    inst.id = f"{split}-{index}"
    return inst


def synth_task(family: str) -> Task:
    fam = FAMILIES[family]
    return Task(
        name=f"synth/{family}", domain=fam.domain, description=fam.description,
        answer_format=fam.answer_format, scorer=fam.scorer, sizes=lambda: dict(HELDOUT_SIZES if fam.heldout else SIZES),
        loader=lambda split, start, stop: [instance(family, split, i) for i in range(start, stop)],
        heldout=fam.heldout, train_splits=[] if fam.heldout else ["train"], procedural=True,
        winning_operators=list(fam.winning), source=f"flowforge.tasks.synth:{family}",
    )
