"""Test doubles. `FakeLLM` implements the LLM protocol without a model, for plumbing tests.

    llm = FakeLLM(["first reply", "second reply"])      # scripted, in order
    llm = FakeLLM(lambda messages: "42")                 # rule-based
    c = await llm.complete(msgs, n=2); llm.calls[-1]["n"] == 2
"""
from __future__ import annotations

from collections.abc import Callable

from flowforge.types import Completion, Usage

Messages = list[dict[str, str]]


class FakeLLM:
    """Answers from a script (consumed in order; running out is an AssertionError) or a
    responder function of the messages. Records every call in `calls` (messages + params).
    Usage counts whitespace-separated words as tokens."""

    def __init__(self, responder: Callable[[Messages], str] | list[str], name: str = "fake",
                 supports_constraints: bool = False):
        self.name = name
        self.supports_constraints = supports_constraints  # then `constraint=` is recorded, not obeyed
        self.usage = Usage()
        self.calls: list[dict] = []
        self._script = list(responder) if isinstance(responder, list) else None
        self._fn = None if isinstance(responder, list) else responder

    def _next(self, messages: Messages) -> str:
        if self._fn is not None:
            return self._fn(messages)
        assert self._script, f"FakeLLM script exhausted after {len(self.calls)} calls"
        return self._script.pop(0)

    async def complete(self, messages, *, n=1, temperature=0.0, max_tokens=256, stop=None, seed=None,
                       **extra) -> Completion:
        assert set(extra) <= ({"constraint"} if self.supports_constraints else set()), extra
        self.calls.append(dict(messages=messages, n=n, temperature=temperature, max_tokens=max_tokens,
                               stop=stop, seed=seed, **extra))
        texts = [self._next(messages) for _ in range(n)]
        usage = Usage(
            calls=1,
            prompt_tokens=sum(len(m["content"].split()) for m in messages),
            completion_tokens=sum(len(t.split()) for t in texts),
        )
        self.usage.add(usage)
        return Completion(texts, usage)
