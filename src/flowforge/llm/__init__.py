"""LLM backends behind one async interface (see base.LLM), chosen by a model spec string.

    llm = load_llm("embedded")                       # SmolLM2-135M-Instruct, local, fastest engine, cached
    llm = load_llm("embedded@transformers")          # the same model on the transformers engine
    llm = load_llm("hf:ckpt/+adapter:runs/sft/adapter", cache=False)
    llm = load_llm("openai:gpt-4o-mini@https://api.openai.com/v1")
    c = await llm.complete([{"role": "user", "content": "hi"}], n=2, temperature=0.7)
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from flowforge.llm.base import LLM, Messages
from flowforge.llm.spec import FORMS, ModelSpec, parse_spec, resolve_engine

__all__ = ["LLM", "Messages", "ModelSpec", "parse_spec", "resolve_engine", "load_llm", "FORMS"]


def _fingerprint(*dirs: str | None) -> str:
    """Weights fingerprint (file names, sizes, mtimes) so retrained checkpoints miss the cache."""
    h = hashlib.sha256()
    for d in filter(None, dirs):
        for f in sorted(Path(d).glob("*.safetensors")) + sorted(Path(d).glob("*.bin")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:12]


def load_llm(spec: str, *, cache: bool | Path = True) -> LLM:
    """Build the backend for `spec`. With `cache` (True = $FLOWFORGE_HOME/cache.sqlite, or a
    path), it is wrapped by the persistent response cache. BackendConfigError on a bad spec or an
    engine that is not installed."""
    ms = parse_spec(spec)
    key_name = ms.canonical()
    if ms.kind == "openai":
        from flowforge.llm.openai_http import OpenAILLM

        llm: LLM = OpenAILLM(ms.model, ms.base_url)
    else:
        from flowforge.llm.local import LocalLLM

        llm = LocalLLM(key_name, ms.path, ms.adapter, engine=resolve_engine(ms))
        if ms.kind == "hf" or ms.adapter:
            key_name += "#" + _fingerprint(ms.path, ms.adapter)
    if cache is False:
        return llm
    from flowforge.llm.cache import CachedLLM
    from flowforge.paths import home

    return CachedLLM(llm, home() / "cache.sqlite" if cache is True else Path(cache), key_name=key_name)
