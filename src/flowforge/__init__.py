"""flowforge: train a model to write task-level LLM workflows in one pass (MetaFlow) instead of
searching for them; run them sandboxed, compare with search (AFlow) and evaluate. `flowforge --help`.

The Python API (see `flowforge.api`): load_task, load_operators, load_llm, reference_workflow,
generate, run, evaluate, search_workflow, train_synth, train_sft, train_rl, and the training configs
SynthConfig, SFTRunConfig, RLRunConfig. Names load on first use, so `import flowforge` is quick.
"""
from importlib import import_module

_API = ("evaluate", "generate", "load_llm", "load_operators", "load_task", "reference_workflow", "run",
        "search_workflow", "train_rl", "train_sft", "train_synth")
_CONFIGS = {"SynthConfig": "flowforge.training.config", "SFTRunConfig": "flowforge.training.config",
            "RLRunConfig": "flowforge.training.config"}
__all__ = [*_API, *_CONFIGS]


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module("flowforge.api"), name)
    if name in _CONFIGS:
        return getattr(import_module(_CONFIGS[name]), name)
    raise AttributeError(f"module 'flowforge' has no attribute {name!r}")
