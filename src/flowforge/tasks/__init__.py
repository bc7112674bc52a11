"""Tasks: benchmark tasks over bundled data, procedural `synth/` families, and user YAML+JSONL
tasks, each with one scorer shared by evaluation and the RL reward.

    from flowforge.tasks import get_task
    task = get_task("gsm8k")
    inst = task.load("test", limit=5)[0]
    task.score("... so the answer is 42", inst).value
"""
from __future__ import annotations

import difflib

from flowforge.errors import DataError
from flowforge.tasks.builtin import BUILTIN
from flowforge.tasks.spec import load_task_spec
from flowforge.tasks.synth import FAMILIES, synth_task
from flowforge.tasks.task import Task

__all__ = ["Task", "get_task", "list_tasks", "load_task_spec", "task_names"]


def task_names() -> list[str]:
    return list(BUILTIN) + [f"synth/{f}" for f in FAMILIES]


def get_task(name: str) -> Task:
    """A built-in task, a `synth/<family>`, or a path to a user `.yaml`/`.yml` spec."""
    if name.endswith((".yaml", ".yml")):
        return load_task_spec(name)
    if name in BUILTIN:
        return BUILTIN[name]()
    if name.startswith("synth/") and name[6:] in FAMILIES:
        return synth_task(name[6:])
    close = difflib.get_close_matches(name, task_names(), n=5, cutoff=0.5)
    if not close and name.startswith("bbh"):
        close = [n for n in task_names() if n.startswith("bbh/")][:5]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise DataError(f"unknown task '{name}'{hint} (`flowforge tasks` lists them all)")


def list_tasks() -> list[Task]:
    return [get_task(n) for n in task_names()]
