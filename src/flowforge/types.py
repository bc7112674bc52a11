"""Core records shared across flowforge. Plain dataclasses, no behaviour beyond small helpers."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Usage:
    """LLM cost of some work: calls, tokens and seconds spent waiting on the backend."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached_calls: int = 0

    def add(self, other: "Usage") -> "Usage":
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds
        self.cached_calls += other.cached_calls
        return self

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Completion:
    """The answer of one backend call: n texts plus what they cost."""

    texts: list[str]
    usage: Usage


@dataclass
class Instance:
    """One task instance. `problem` is what a workflow sees; `context` is bound into operators
    by the runtime (passages, public tests, entry point...); `reference` is only for the scorer."""

    id: str
    problem: str
    reference: Any
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Score:
    """A scorer's verdict. `value` is in [0, 1]; NaN means unscored (infrastructure failure)."""

    value: float
    answer: str = ""
    explanation: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def scored(self) -> bool:
        return not math.isnan(self.value)


@dataclass
class ExecResult:
    """Outcome of running untrusted code in the sandbox."""

    success: bool
    stdout: str = ""
    stderr: str = ""
    result: Any = None
    error: str | None = None  # exception class name, "Timeout", "MemoryError", ...
    message: str = ""
    timeout: bool = False
    memory_exceeded: bool = False
    seconds: float = 0.0


@dataclass
class OperatorCall:
    """One traced operator call inside a workflow run."""

    operator: str
    inputs: dict[str, Any]
    output: Any
    usage: Usage
    seconds: float
    error: str | None = None


@dataclass
class InstanceResult:
    """One line of results.jsonl."""

    instance_id: str
    answer: str
    score: float
    error: str | None
    usage: Usage
    seconds: float
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["usage"] = self.usage.to_dict()
        return d
