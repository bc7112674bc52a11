"""The record of one procedural family."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable

from flowforge.types import Instance


@dataclass(frozen=True)
class Family:
    """One procedural family: its task card, its instance generator and its winning composition."""

    name: str
    domain: str
    scorer: str
    description: str
    answer_format: str
    make: Callable[[random.Random], Instance] = field(repr=False)
    winning: tuple[str, ...] = ()  # operators of its best composition (never shown to the generator)
    heldout: bool = False

    @classmethod
    def from_module(cls, name: str, mod: ModuleType) -> "Family":
        return cls(name, mod.DOMAIN, mod.SCORER, mod.DESCRIPTION, mod.ANSWER_FORMAT, mod.make, tuple(mod.WINNING))
