"""Generator prompt: (task description, operator set, optional example problems) -> chat messages.

Kept short on purpose: the embedded generator is a 135M model with a small attention budget, so
the whole prompt stays under ~700 tokens with the default operator set
(measured by `benchmarks/generator_quality.py`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flowforge.llm.base import Messages

if TYPE_CHECKING:
    from flowforge.operators import OperatorSet

SYSTEM = "You write short Python workflows that solve every instance of a task. Reply with one code block."

INSTRUCTIONS = (
    "Write `async def solve(problem, ops):` for this task. It must work for every instance, "
    "call only the operators above as `await ops.NAME(...)` with keyword arguments, "
    "and return the final answer as a string. No imports."
)


def build_messages(
    description: str,
    answer_format: str,
    opset: "OperatorSet",
    examples: list[str] | None = None,
    example_chars: int = 300,
) -> Messages:
    """Chat messages asking for one workflow in the v1 format."""
    parts = [f"Task: {description.strip()}", f"Answer format: {answer_format.strip()}", opset.describe()]
    for i, ex in enumerate(examples or [], 1):
        text = " ".join(ex.split())
        parts.append(f"Example problem {i}: {text[:example_chars]}{'...' if len(text) > example_chars else ''}")
    parts.append(INSTRUCTIONS)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def completion_text(source: str) -> str:
    """How a workflow is written as a generator completion (SFT target)."""
    return f"```python\n{source.strip()}\n```"
