"""What an operator call sees: the executor LLM, the instance it serves, and its own usage meter.

The runtime builds one `OpContext` per operator call (so concurrent calls inside one workflow
keep separate usage), choosing temperature and seed: the first call of an operator with given
inputs is greedy; identical repeats sample (temperature 0.8, new seed), so self-consistency
workflows get diverse samples while caches stay deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowforge.llm.base import LLM
from flowforge.types import Usage


class OperatorError(Exception):
    """An operator could not do its job (bad input, nothing to parse, no public tests...).
    The workflow sees it as an exception it may catch; the trace records it."""


@dataclass
class OpContext:
    llm: LLM
    problem: str
    context: dict[str, Any] = field(default_factory=dict)
    temperature: float = 0.0
    seed: int = 0
    max_tokens: int | None = None  # a cap over every operator's own budget (tests, benchmarks)
    usage: Usage = field(default_factory=Usage)

    @property
    def answer_format(self) -> str:
        return str(self.context.get("answer_format") or "")

    async def ask(self, prompt: str, *, max_tokens: int, stop: list[str] | None = None) -> str:
        """One chat turn with the executor; its usage is added to this call's meter."""
        if self.max_tokens is not None:
            max_tokens = min(max_tokens, self.max_tokens)
        completion = await self.llm.complete(
            [{"role": "user", "content": prompt}],
            n=1, temperature=self.temperature, max_tokens=max_tokens, stop=stop, seed=self.seed,
        )
        self.usage.add(completion.usage)
        return completion.texts[0] if completion.texts else ""
