"""Persistent response cache around any LLM (sqlite, WAL mode, safe across processes).

One row per *sample*: key = sha256(model name, messages, temperature, max_tokens, stop, seed,
sample index). Asking n=5 after n=3 generates only samples 3 and 4. With a seed, missing sample k
is generated as its own call with seed `sample_seed(seed, k)`, so the samples match what the
backend would return for one n=5 call. Without a seed, sample indices still make reruns
deterministic: the first text stored for an index wins (also across racing processes).
A full hit costs no generation: usage counts the call and its tokens, `cached_calls=1`, ~0 s.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

from flowforge.llm.base import LLM, Messages
from flowforge.llm.constrain import Constraint
from flowforge.llm.sampling import sample_seed
from flowforge.types import Completion, Usage

_SCHEMA = """CREATE TABLE IF NOT EXISTS samples (
    key TEXT PRIMARY KEY, text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, created REAL NOT NULL)"""


class CachedLLM:
    def __init__(self, inner: LLM, path: Path, *, key_name: str | None = None):
        self.inner = inner
        self.name = inner.name
        self.key_name = key_name or inner.name  # may carry a weights fingerprint
        self.usage = Usage()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    @property
    def supports_constraints(self) -> bool:
        return getattr(self.inner, "supports_constraints", False)

    def key(self, messages: Messages, temperature: float, max_tokens: int, stop, seed, index: int,
            constraint: Constraint | None = None) -> str:
        parts = [self.key_name, messages, float(temperature), max_tokens, list(stop or []), seed, index]
        if constraint is not None:  # unconstrained keys stay as they were
            parts.append(constraint.key())
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _get(self, keys: list[str]) -> dict[str, tuple[str, int, int]]:
        with self._lock:
            q = f"SELECT key, text, prompt_tokens, completion_tokens FROM samples WHERE key IN ({','.join('?' * len(keys))})"
            return {k: (t, p, c) for k, t, p, c in self._db.execute(q, keys)}

    def _put(self, rows: list[tuple[str, str, int, int]]) -> None:
        now = time.time()
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?, ?)", [(*r, now) for r in rows]
            )

    async def complete(
        self,
        messages: Messages,
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: list[str] | None = None,
        seed: int | None = None,
        constraint: Constraint | None = None,
    ) -> Completion:
        t0 = time.perf_counter()
        keys = [self.key(messages, temperature, max_tokens, stop, seed, k, constraint) for k in range(n)]
        hits = self._get(keys)
        missing = [k for k in range(n) if keys[k] not in hits]
        usage = Usage(calls=1)
        if missing:
            kw = dict(temperature=temperature, max_tokens=max_tokens, stop=stop)
            if constraint is not None:
                kw["constraint"] = constraint
            if seed is not None and temperature > 0:  # one call per sample, with that sample's seed
                comps = await asyncio.gather(
                    *(self.inner.complete(messages, n=1, seed=sample_seed(seed, k), **kw) for k in missing)
                )
                texts = [c.texts[0] for c in comps]
                tok = [c.usage.completion_tokens for c in comps]
                for c in comps:
                    usage.prompt_tokens = c.usage.prompt_tokens
            else:
                c = await self.inner.complete(messages, n=len(missing), seed=seed, **kw)
                texts = c.texts
                per = c.usage.completion_tokens // max(1, len(missing))
                tok = [per] * len(missing)
                usage.prompt_tokens = c.usage.prompt_tokens
            self._put([(keys[k], t, usage.prompt_tokens, ct) for k, t, ct in zip(missing, texts, tok)])
            hits = self._get(keys)  # read back: a racing process's first write wins
        else:
            usage.cached_calls = 1
        usage.prompt_tokens = usage.prompt_tokens or hits[keys[0]][1]
        usage.completion_tokens = sum(hits[k][2] for k in keys)
        usage.seconds = time.perf_counter() - t0
        self.usage.add(usage)
        return Completion([hits[k][0] for k in keys], usage)

    def close(self) -> None:
        with self._lock:
            self._db.close()
