"""The workflow generator: prompt building, parsing and repair, generation and best-of-N."""
from pathlib import Path

SHIPPED_ADAPTERS = Path(__file__).resolve().parent.parent / "adapters"


def default_generator_spec() -> str:
    """The best generator the repo ships: the SFT (or RL) adapter on the embedded model, else the base model."""
    for name in ("metaflow-rl", "metaflow-sft"):
        adapter = SHIPPED_ADAPTERS / name
        if (adapter / "adapter_config.json").exists():
            return f"embedded+adapter:{adapter}"
    return "embedded"
