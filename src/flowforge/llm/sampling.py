"""Small sampling helpers shared by every backend (no torch import here).

- `sample_seed(s, k)`: sample k of a call with seed s uses this seed everywhere (local backend
  rows, cache refills), so the k-th sample is the same however requests are batched or split.
- `truncate_at_stop(text, stop)`: cut before the earliest stop string.
"""
from __future__ import annotations


def sample_seed(seed: int, index: int) -> int:
    return seed if index == 0 else (seed * 1_000_003 + index * 7_919) % (2**63 - 1)


def truncate_at_stop(text: str, stop: list[str] | None) -> str:
    cut = min((i for s in stop or [] if s and (i := text.find(s)) >= 0), default=-1)
    return text if cut < 0 else text[:cut]
