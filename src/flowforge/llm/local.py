"""Local transformers engine (`embedded@transformers`, `hf:PATH[+adapter:PATH]@transformers`), the
engine for constrained decoding, and `LocalLLM`, the LLM protocol over any local engine.

Requests are micro-batched (llm/batching.py) into ONE left-padded `model.generate` call. Rows
with different sampling parameters share a batch: each row carries its own temperature,
max_tokens, stop strings and torch.Generator (`RowSampler` samples per row, `_RowStop` ends rows
independently), so a row's output does not depend on what else is in the batch. Greedy
(temperature 0) rows with n>1 are generated once and copied. Loaded models are memoised per
(path, adapter): one copy of the weights per process.
"""
from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from functools import cached_property
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from flowforge.errors import BackendConfigError
from flowforge.llm.base import Messages
from flowforge.llm.batching import BatchingEngine, Request
from flowforge.llm.constrain import Constraint
from flowforge.llm.embedded import embedded_model_dir, set_torch_threads
from flowforge.llm.sampling import sample_seed, truncate_at_stop
from flowforge.types import Completion, Usage

_Request = Request  # the name tests and benchmarks use


class RowSampler(LogitsProcessor):
    """Samples each row with its own temperature and generator; greedy rows pass through.
    The chosen token is left as the only finite logit, so generate's argmax picks it."""

    def __init__(self, temps: list[float], gens: list[torch.Generator | None]):
        self.rows = [(i, t, g) for i, (t, g) in enumerate(zip(temps, gens)) if t > 0]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        out = scores.clone()
        for i, t, g in self.rows:
            probs = torch.softmax(scores[i].float() / t, dim=-1)
            tok = torch.multinomial(probs, 1, generator=g)
            out[i].fill_(float("-inf"))
            out[i, tok] = 0.0
        return out


class RowConstrain(LogitsProcessor):
    """Masks, per row with a Constraint, the tokens that would break it. Each row's automaton
    state advances by the text of the token it just generated; a row whose text broke the rules
    anyway (its state had no allowed token) is left unconstrained from then on. A constraint with
    `row_banned` (a check on the row's whole text) also masks what that returns, unless that
    would leave no token."""

    def __init__(self, prompt_len: int, constraints: list[Constraint | None], masks: "TokenMasks"):
        self.masks, self.seen = masks, prompt_len
        self.rows = {i: (c, c.initial, "") for i, c in enumerate(constraints) if c is not None}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        texts = self.masks.token_texts
        new = input_ids[:, self.seen:].tolist()
        self.seen = input_ids.shape[1]
        for i, (c, state, text) in list(self.rows.items()):
            piece = "".join(texts[t] for t in new[i])
            state, text = c.advance(state, piece), text + piece
            if state is None:
                del self.rows[i]
                continue
            self.rows[i] = (c, state, text)
            n = min(len(texts), scores.shape[1])  # a model's vocab may be padded past the tokenizer's
            banned = self.masks.banned_tokens(c, state)
            if banned is not None:
                scores[i, :n].masked_fill_(banned[:n], float("-inf"))
            extra = [t for t in c.row_banned(state, text, texts) if t < n] if hasattr(c, "row_banned") else []
            if extra:
                row = scores[i, :n].clone()
                row[extra] = float("-inf")
                if torch.isfinite(row).any():
                    scores[i, :n] = row
        return scores


class _RowStop(StoppingCriteria):
    """Ends a row at its own max_new_tokens or when its tail contains one of its stop strings."""

    def __init__(self, prompt_len: int, max_new: list[int], stops: list[list[str]], tok,
                 abort: threading.Event | None = None):
        self.prompt_len, self.stops, self.tok, self.abort = prompt_len, stops, tok, abort
        self.max_new = torch.tensor(max_new)
        self.window = [max((len(s) for s in st), default=0) + 2 for st in stops]
        self.done = torch.zeros(len(max_new), dtype=torch.bool)

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        if self.abort is not None and self.abort.is_set():  # engine closing: end every row now
            self.done[:] = True
            return self.done.to(input_ids.device).clone()
        n_new = input_ids.shape[1] - self.prompt_len
        self.done |= self.max_new <= n_new
        for i, st in enumerate(self.stops):
            if st and not self.done[i]:
                tail = input_ids[i, max(self.prompt_len, input_ids.shape[1] - self.window[i]):]
                text = self.tok.decode(tail, skip_special_tokens=True)
                self.done[i] = any(s in text for s in st)
        return self.done.to(input_ids.device).clone()


class TokenMasks:
    """The banned-token masks of constraints over one tokenizer's vocabulary, one per
    (constraint, automaton state), computed once and cached."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self._banned: dict[tuple, torch.Tensor | None] = {}

    @cached_property
    def token_texts(self) -> list[str]:
        """Each vocabulary id's text, decoded alone."""
        return self.tok.batch_decode([[i] for i in range(len(self.tok))], skip_special_tokens=True)

    def constraint_cache_info(self) -> tuple[int, int]:
        """(automaton states cached, bytes held by their masks)."""
        return len(self._banned), sum(m.numel() * m.element_size() for m in self._banned.values() if m is not None)

    def banned_tokens(self, constraint: Constraint, state: tuple) -> torch.Tensor | None:
        """Mask of the tokens `constraint` forbids after `state` (cached); None when none are, or
        when every token would be (the constraint cannot be met, so it steps aside)."""
        key = (constraint, state)
        if key not in self._banned:
            ids = constraint.banned(state, self.token_texts)
            mask = None
            if 0 < len(ids) < len(self.token_texts):
                mask = torch.zeros(len(self.token_texts), dtype=torch.bool)
                mask[ids] = True
            self._banned[key] = mask
        return self._banned[key]


class Engine(BatchingEngine, TokenMasks):
    """One loaded transformers model + tokenizer + the worker thread that batches requests for it."""

    def __init__(self, model, tokenizer, *, max_rows: int = 32, gather_s: float = 0.004):
        self.model = model
        self.device = next(model.parameters()).device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        self.eos_ids = sorted(set(eos) | ({tokenizer.eos_token_id} - {None}))
        TokenMasks.__init__(self, tokenizer)
        super().__init__(tokenizer, max_rows=max_rows, gather_s=gather_s)

    def _generate(self, reqs: list[Request]) -> list[tuple[list[str], int]]:
        prompts, temps, gens, max_new, stops, constraints = [], [], [], [], [], []
        for r in reqs:
            for k in range(r.rows):
                prompts.append(r.prompt_ids)
                constraints.append(r.constraint)
                temps.append(r.temperature)
                gens.append(torch.Generator().manual_seed(r.seeds[k]) if r.temperature > 0 else None)
                max_new.append(r.max_new)
                stops.append(r.stop)
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, p in enumerate(prompts):  # left padding
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        config = GenerationConfig(
            max_new_tokens=max(max_new),
            do_sample=False,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_ids,
        )
        processors = LogitsProcessorList(
            ([RowConstrain(width, constraints, self)] if any(constraints) else [])
            + ([RowSampler(temps, gens)] if any(t > 0 for t in temps) else []))
        criteria = StoppingCriteriaList([_RowStop(width, max_new, stops, self.tok, self._closed)])
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                generation_config=config,
                logits_processor=processors,
                stopping_criteria=criteria,
            )
        new = out[:, width:].tolist()
        results, row = [], 0
        for r in reqs:
            texts, n_tok = [], 0
            for _ in range(r.rows):
                toks = new[row][: max_new[row]]
                row += 1
                end = next((j for j, t in enumerate(toks) if t in self.eos_ids), len(toks))
                n_tok += end * r.copies
                text = truncate_at_stop(self.tok.decode(toks[:end], skip_special_tokens=True), r.stop)
                texts.extend([text] * r.copies)
            results.append((texts, n_tok))
        return results


_ENGINES: dict[tuple[str, str | None], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(path: str | None, adapter: str | None = None) -> Engine:
    """The memoised engine for a checkpoint dir (None = embedded) and optional PEFT adapter."""
    path = str(Path(embedded_model_dir() if path is None else path).resolve())
    key = (path, adapter)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = Engine(*_load(path, adapter), max_rows=int(os.environ.get("FLOWFORGE_MAX_BATCH", 32)))
        return _ENGINES[key]


def _load(path: str, adapter: str | None):
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    set_torch_threads()
    cuda = torch.cuda.is_available()
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if cuda else torch.float32)
        tok_dir = adapter if adapter and (Path(adapter) / "tokenizer_config.json").exists() else path
        tok = AutoTokenizer.from_pretrained(tok_dir)
    except (OSError, ValueError) as e:
        raise BackendConfigError(f"cannot load a transformers checkpoint from {path}: {e}") from e
    if adapter:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        except (OSError, ValueError) as e:
            raise BackendConfigError(f"cannot load PEFT adapter {adapter}: {e}") from e
    if cuda:
        model = model.to("cuda")
    model.eval()
    return model, tok


class LocalLLM:
    """The LLM protocol over a local engine: "transformers" (llm/local.py) or "ct2" (llm/ct2.py).
    Cheap to create: the weights load on the first call (or `load()`), so a run served entirely
    from the cache never loads them. Engines are shared. A constrained request always runs on the
    transformers engine (the only one that masks tokens), loaded on the first such request."""

    supports_constraints = True

    def __init__(self, name: str, path: str | None = None, adapter: str | None = None, engine: str = "transformers"):
        self.name = name
        self.usage = Usage()
        self.engine_kind = engine
        self._where = (path, adapter)
        self._engine: BatchingEngine | None = None
        self._masking: Engine | None = None

    def load(self) -> BatchingEngine:
        if self._engine is None:
            if self.engine_kind == "ct2":
                from flowforge.llm.ct2 import get_ct2_engine

                self._engine = get_ct2_engine(*self._where)
            else:
                self._engine = get_engine(*self._where)
        return self._engine

    @property
    def engine(self) -> BatchingEngine:
        return self.load()

    def masking_engine(self) -> Engine:
        """The transformers engine that serves constrained requests."""
        if self._masking is None:
            self._masking = self.load() if self.engine_kind == "transformers" else get_engine(*self._where)
        return self._masking

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
        if n < 1 or max_tokens < 1 or temperature < 0:
            raise ValueError(f"bad sampling params: n={n} max_tokens={max_tokens} temperature={temperature}")
        t0 = time.perf_counter()
        if constraint is not None:
            engine = self._masking or await asyncio.to_thread(self.masking_engine)
        else:
            engine = self._engine or await asyncio.to_thread(self.load)
        ids = engine.encode(messages)
        greedy = temperature == 0
        base = random.getrandbits(62) if seed is None else seed
        req = _Request(
            prompt_ids=ids,
            rows=1 if greedy else n,
            copies=n if greedy else 1,
            temperature=float(temperature),
            max_new=max_tokens,
            stop=[s for s in stop or [] if s],
            seeds=[sample_seed(base, k) for k in range(n)],
            constraint=constraint,
        )
        texts, n_tok = await asyncio.wrap_future(engine.submit(req))
        usage = Usage(1, len(ids), n_tok, time.perf_counter() - t0)
        self.usage.add(usage)
        return Completion(texts, usage)
