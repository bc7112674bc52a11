"""CTranslate2 (int8) conversions of local checkpoints, cached under `$FLOWFORGE_HOME/models/`.

    ct2_model_dir(embedded_model_dir())            # models/smollm2-135m-instruct.ct2-int8
    ct2_model_dir(base, adapter="runs/sft/adapter") # models/smollm2-135m-instruct.ct2-int8+<adapter sha>

A LoRA adapter is merged into the base weights (peft `merge_and_unload`) before conversion; its
conversion is keyed by the sha256 of the adapter's files, so a retrained adapter at the same path
gets a new one and identical copies share one. A checkpoint outside `$FLOWFORGE_HOME` is keyed by
its resolved path. Each conversion is written to a temp dir and renamed into place with a
manifest (`flowforge-ct2.json`: the source's weights fingerprint, the adapter hash, model.bin's
size); a directory whose manifest is missing or does not match is rebuilt, never used.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from flowforge.errors import BackendConfigError
from flowforge.paths import home

QUANTIZATION = "int8"
MANIFEST = "flowforge-ct2.json"
_FILES = ("config.json", "model.bin", "tokenizer_config.json", MANIFEST)


def ct2_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ctranslate2") is not None


def adapter_sha256(adapter: str | Path) -> str:
    """sha256 over the adapter directory's files (names and contents, subdirectories excluded)."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(adapter).iterdir() if p.is_file()):
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def weights_fingerprint(path: str | Path) -> str:
    """Names, sizes and mtimes of a checkpoint's weight files (a rewritten checkpoint differs)."""
    h = hashlib.sha256()
    for f in sorted(Path(path).glob("*.safetensors")) + sorted(Path(path).glob("*.bin")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def _target(base: Path, adapter_sha: str | None) -> Path:
    models = home().resolve() / "models"
    if base.parent == models:  # the embedded model (or another checkpoint kept there): beside it
        name = f"{base.name}.ct2-{QUANTIZATION}"
    else:
        name = f"ct2/{base.name}-{hashlib.sha256(str(base).encode()).hexdigest()[:12]}.ct2-{QUANTIZATION}"
    return models / (name + (f"+{adapter_sha[:16]}" if adapter_sha else ""))


def _manifest(base: Path, adapter_sha: str | None) -> dict:
    return {"source": str(base), "weights": weights_fingerprint(base), "adapter_sha256": adapter_sha,
            "quantization": QUANTIZATION}


def is_valid(d: Path, expected: dict) -> bool:
    """`d` is a finished conversion of `expected`'s source (manifest matches, files present and whole)."""
    if not all((d / f).is_file() for f in _FILES):
        return False
    try:
        m = json.loads((d / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return all(m.get(k) == v for k, v in expected.items()) and m.get("model_bin_bytes") == (d / "model.bin").stat().st_size


def ct2_model_dir(base: str | Path, adapter: str | Path | None = None) -> Path:
    """The cached int8 conversion of checkpoint `base` (with `adapter` merged), built if missing or broken."""
    base = Path(base).resolve()
    adapter_sha = adapter_sha256(adapter) if adapter else None
    target, expected = _target(base, adapter_sha), _manifest(base, adapter_sha)
    if is_valid(target, expected):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _convert(base, Path(adapter) if adapter else None, tmp / "out")
        (tmp / "out" / MANIFEST).write_text(json.dumps(
            {**expected, "model_bin_bytes": (tmp / "out" / "model.bin").stat().st_size}, indent=1))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        _install(tmp / "out", target, expected)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _install(new: Path, target: Path, expected: dict) -> None:
    """Rename `new` into place; a broken `target` is moved aside first. If another process
    installed a valid conversion meanwhile, that one stays."""
    if target.exists() and not is_valid(target, expected):
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}-broken-", dir=target.parent))
        try:
            os.rename(target, trash / "old")
        except OSError:
            pass  # another process moved it first
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.rename(new, target)
    except OSError:  # a racing process won: keep its conversion if it is whole
        if not is_valid(target, expected):
            raise


def _convert(base: Path, adapter: Path | None, out: Path) -> None:
    from ctranslate2.converters import TransformersConverter
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tok_dir = adapter if adapter and (adapter / "tokenizer_config.json").exists() else base
    with tempfile.TemporaryDirectory(prefix=".merge-", dir=out.parent) as merged:
        src = base
        if adapter is not None:
            from peft import PeftModel

            try:
                model = AutoModelForCausalLM.from_pretrained(base)
                model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
            except (OSError, ValueError) as e:
                raise BackendConfigError(f"cannot load PEFT adapter {adapter}: {e}") from e
            model.save_pretrained(merged, safe_serialization=True)
            AutoTokenizer.from_pretrained(tok_dir).save_pretrained(merged)
            del model
            src = Path(merged)
        try:
            TransformersConverter(str(src), low_cpu_mem_usage=True).convert(str(out), quantization=QUANTIZATION)
        except (OSError, ValueError, NotImplementedError) as e:
            raise BackendConfigError(f"cannot convert {base} for CTranslate2: {e}") from e
    AutoTokenizer.from_pretrained(tok_dir).save_pretrained(out)
    if (base / "generation_config.json").exists():
        shutil.copy(base / "generation_config.json", out / "generation_config.json")
