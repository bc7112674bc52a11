"""CTranslate2 engine (`embedded`, `embedded@ct2`, `hf:PATH[+adapter:PATH]@ct2`): the int8
conversion from llm/convert.py, run by ctranslate2's C++ decoder with the same micro-batching as the
transformers engine (llm/batching.py).

One batch becomes one `generate_batch` call per temperature (ctranslate2 takes one temperature
per call). The decoder forwards a call's shortest prompt at once and the rest of every longer
prompt token by token, so rows are grouped by prompt length where a cost model says separate
calls are cheaper than one (`_call_cost`). A per-token callback ends each row at its own
max_tokens or stop string (and every row when the engine closes).

Greedy rows are exact and independent of the batch. Sampled rows are drawn by ctranslate2's own
sampler, whose random generator is per decoder thread and cannot be seeded per row: a seed does
not reproduce a sample (the response cache does). ctranslate2's Python API has no per-step logits
hook, so constrained requests are served by the transformers engine (see `LocalLLM`).
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from flowforge.errors import BackendConfigError
from flowforge.llm.batching import BatchingEngine, Request
from flowforge.llm.embedded import cpu_threads
from flowforge.llm.sampling import truncate_at_stop


class CT2Engine(BatchingEngine):
    def __init__(self, model_dir: str | Path, *, max_rows: int = 32, gather_s: float = 0.004):
        import ctranslate2
        from transformers import AutoTokenizer

        cuda = ctranslate2.get_cuda_device_count() > 0
        try:
            self.generator = ctranslate2.Generator(
                str(model_dir), device="cuda" if cuda else "cpu",
                compute_type="int8_float16" if cuda else "int8", intra_threads=cpu_threads())
            tok = AutoTokenizer.from_pretrained(model_dir)
        except (OSError, ValueError, RuntimeError) as e:
            raise BackendConfigError(f"cannot load the CTranslate2 model in {model_dir}: {e}") from e
        self.model_dir = Path(model_dir)
        eos = {tok.eos_token_id} - {None}
        gen_cfg = self.model_dir / "generation_config.json"
        if gen_cfg.exists():
            e = json.loads(gen_cfg.read_text()).get("eos_token_id")
            eos |= {e} if isinstance(e, int) else set(e or [])
        self.eos_ids = sorted(eos)
        super().__init__(tok, max_rows=max_rows, gather_s=gather_s)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker, then free the decoder while the interpreter is alive: its C++ threads
        destroyed at finalisation abort the process ("terminate called without an active exception")."""
        super().close(timeout)
        if not self._thread.is_alive():
            self.generator = None

    def _generate(self, reqs: list[Request]) -> list[tuple[list[str], int]]:
        rows = []  # (request index, prompt ids, temperature, max_new, stop)
        for i, r in enumerate(reqs):
            rows += [(i, r.prompt_ids, r.temperature, r.max_new, r.stop)] * r.rows
        outs: list[list[int] | None] = [None] * len(rows)
        for group in self._calls(rows):
            for j, ids in zip(group, self._run([rows[j] for j in group])):
                outs[j] = ids
        results = [([], 0) for _ in reqs]
        for (i, _, _, _, stop), ids in zip(rows, outs):
            text = truncate_at_stop(self.tok.decode(ids, skip_special_tokens=True), stop)
            texts, n_tok = results[i]
            results[i] = (texts + [text] * reqs[i].copies, n_tok + len(ids) * reqs[i].copies)
        return results

    @staticmethod
    def _calls(rows) -> list[list[int]]:
        """Row indices per generate_batch call: one temperature each, rows sorted by prompt
        length and cut where the cost model says separate calls are cheaper (`_call_cost`)."""
        calls: list[list[int]] = []
        for temp in sorted({r[2] for r in rows}):
            idx = sorted((j for j, r in enumerate(rows) if r[2] == temp), key=lambda j: len(rows[j][1]))
            best, cut = [0.0], [0]  # best[k]: cheapest cost of idx[:k]; cut[k]: start of its last call
            for k in range(1, len(idx) + 1):
                cost, start = min((best[i] + _call_cost([rows[j] for j in idx[i:k]]), i) for i in range(k))
                best.append(cost)
                cut.append(start)
            parts, k = [], len(idx)
            while k:
                parts.append(idx[cut[k]:k])
                k = cut[k]
            calls += reversed(parts)
        return calls

    def _run(self, rows) -> list[list[int]]:
        """One generate_batch call over `rows`; the generated ids of each, without the end token."""
        temp = rows[0][2]
        max_new = [r[3] for r in rows]
        stops = [r[4] for r in rows]
        window = [max((len(s) for s in st), default=0) + 2 for st in stops]
        got: list[list[int]] = [[] for _ in rows]
        lock = threading.Lock()

        def step(s) -> bool:  # True ends row s.batch_id
            if self._closed.is_set():
                return True
            b = s.batch_id
            with lock:
                got[b].append(s.token_id)
                if len(got[b]) >= max_new[b]:
                    return True
                if stops[b]:
                    tail = self.tok.decode(got[b][-window[b]:], skip_special_tokens=True)
                    return any(x in tail for x in stops[b])
            return False

        results = self.generator.generate_batch(
            [self.tok.convert_ids_to_tokens(r[1]) for r in rows],
            max_length=max(max_new), include_prompt_in_result=False, end_token=self.eos_ids,
            sampling_topk=1 if temp == 0 else 0, sampling_temperature=temp or 1.0, callback=step)
        return [res.sequences_ids[0][:m] for res, m in zip(results, max_new)]


# Decoder step time at batch b relative to batch 1 (int8 SmolLM2-135M on 2 cores: 29, 86 and
# 104 tok/s at batch 1, 8 and 32), and a call's fixed cost in decoder steps (prompt forward).
_STEP_COST_PER_ROW = 0.27
_CALL_OVERHEAD_STEPS = 20


def _call_cost(rows) -> float:
    """Estimated cost of one generate_batch call, in batch-1 decoder steps: the decoder forwards
    the shortest prompt at once, then steps through the rest of every longer prompt and the new
    tokens, all rows together."""
    lens = [len(r[1]) for r in rows]
    steps = max(lens) - min(lens) + max(r[3] for r in rows)
    return _CALL_OVERHEAD_STEPS + steps * (1 + _STEP_COST_PER_ROW * (len(rows) - 1))


_ENGINES: dict[Path, CT2Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_ct2_engine(path: str | None, adapter: str | None = None) -> CT2Engine:
    """The memoised engine for a checkpoint dir (None = embedded) and optional PEFT adapter,
    converting it on first use."""
    from flowforge.llm.convert import ct2_model_dir
    from flowforge.llm.embedded import embedded_model_dir

    with _ENGINES_LOCK:
        model_dir = ct2_model_dir(embedded_model_dir() if path is None else path, adapter)
        if model_dir not in _ENGINES:
            _ENGINES[model_dir] = CT2Engine(model_dir, max_rows=int(os.environ.get("FLOWFORGE_MAX_BATCH", 32)))
        return _ENGINES[model_dir]
