"""The one backend interface: chat messages in, n completions out."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from flowforge.types import Completion, Usage

Messages = list[dict[str, str]]


@runtime_checkable
class LLM(Protocol):
    """Every backend (local transformers, OpenAI-compatible HTTP, cache wrapper, test fakes).

    `complete` is safe to call concurrently; local backends micro-batch concurrent calls.
    `usage` accumulates over the backend's lifetime.
    A backend that can mask tokens (the local one) sets `supports_constraints = True` and also
    accepts `constraint=` any `llm.constrain.Constraint`; callers check that flag first.
    """

    name: str
    usage: Usage

    async def complete(
        self,
        messages: Messages,
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> Completion: ...
