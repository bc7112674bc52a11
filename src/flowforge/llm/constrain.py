"""The constraint protocol a token-masking backend accepts as `complete(..., constraint=...)`.

A constraint is a character automaton over the generated text. The backend starts each row at
`initial`, advances it by each generated token's text, and masks the tokens `banned` after the
current state; `key()` identifies the constraint in cache keys. States and constraints must be
hashable (the backend caches one mask per (constraint, state)). The operator-call automaton the
generator uses is `flowforge.generator.constrain.OpsConstraint`.

A constraint may also have `row_banned(state, text, pieces) -> list[int]`: more tokens to mask
after the row's whole generated `text`, for rules a cacheable state cannot hold (the generator's
argument-type check, `generator/typed_args.py`). The backend calls it every step, uncached, and
ignores it where it would leave no token.
"""
from __future__ import annotations

from typing import Hashable, Protocol, runtime_checkable


@runtime_checkable
class Constraint(Protocol):
    initial: Hashable

    def advance(self, state: Hashable | None, text: str) -> Hashable | None:
        """The state after `text`, or None if `text` breaks the constraint."""

    def banned(self, state: Hashable, pieces: list[str]) -> list[int]:
        """Ids of the tokens (pieces[i] is token i's text) that break the constraint after `state`."""

    def key(self) -> list:
        """JSON-able identity (cache keys)."""
