"""Text layouts the families share: Markdown tables and lettered multiple-choice options."""
from __future__ import annotations

import random
from typing import Iterable, Sequence

from flowforge.tasks.synth.vocab import letters


def md_table(header: Sequence, rows: Iterable[Iterable]) -> str:
    """A Markdown table: one line per row, cells separated by ' | '."""
    def line(cells) -> str:
        return "| " + " | ".join(map(str, cells)) + " |"
    return "\n".join([line(header), "|---" * len(header) + "|"] + [line(r) for r in rows])


def lettered(options: list[str]) -> list[str]:
    """'(A) first', '(B) second', ..."""
    return [f"{lab} {o}" for lab, o in zip(letters(len(options)), options)]


def multiple_choice(rng: random.Random, answer: str, distractors: list[str], k: int) -> tuple[list[str], str]:
    """`answer` among `k` of `distractors`, shuffled: the lettered option lines and the answer's letter."""
    options = rng.sample(distractors, k) + [answer]
    rng.shuffle(options)
    return lettered(options), letters(len(options))[options.index(answer)]
