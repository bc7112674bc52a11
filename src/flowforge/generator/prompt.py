"""The workflow format: (task description, operator set, optional example problems) -> chat
messages, a workflow -> its SFT target, and a completion -> a parsed workflow.

Kept short on purpose: the embedded generator is a 135M model with a small attention budget, so
the whole prompt stays under ~700 tokens with the default operator set
(measured by `benchmarks/generator_quality.py`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowforge.llm.base import Messages

if TYPE_CHECKING:
    from flowforge.generator.parse import ParsedWorkflow
    from flowforge.operators import OperatorSet

SYSTEM = "You write short Python workflows that solve every instance of a task. Reply with one code block."

INSTRUCTIONS = (
    "Write `async def solve(problem, ops):` for this task. It must work for every instance, "
    "call only the operators above as `await ops.NAME(...)` with keyword arguments, "
    "and return the final answer as a string. No imports."
)


@dataclass(frozen=True)
class WorkflowFormat:
    """How a workflow request and its answer are written, in one place (as dspy's adapters own
    `format` and `parse`): the chat messages a generator reads, the completion it is trained to
    write, and the parse of a completion back into a workflow. Generation, synthetic SFT data, the
    RL prompts and reward, and search all go through `WORKFLOW`."""

    system: str = SYSTEM
    instructions: str = INSTRUCTIONS

    def task_lines(self, description: str, answer_format: str, opset: "OperatorSet") -> list[str]:
        """The task and its operators, as every prompt about this task states them."""
        return [f"Task: {description.strip()}", f"Answer format: {answer_format.strip()}", opset.describe()]

    def messages(self, description: str, answer_format: str, opset: "OperatorSet",
                 examples: list[str] | None = None, example_chars: int = 300) -> Messages:
        """Chat messages asking for one workflow in the v1 format."""
        parts = self.task_lines(description, answer_format, opset)
        for i, ex in enumerate(examples or [], 1):
            text = " ".join(ex.split())
            parts.append(f"Example problem {i}: {text[:example_chars]}{'...' if len(text) > example_chars else ''}")
        parts.append(self.instructions)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": "\n".join(parts)}]

    def target(self, source: str) -> str:
        """The completion a generator is trained to write for `source` (the SFT target)."""
        return f"```python\n{source.strip()}\n```"

    def parse(self, completion: str, opset: "OperatorSet") -> "ParsedWorkflow":
        """A completion back into a workflow: extract, repair, validate against `opset`."""
        from flowforge.generator.parse import parse_workflow

        return parse_workflow(completion, opset)


WORKFLOW = WorkflowFormat()
