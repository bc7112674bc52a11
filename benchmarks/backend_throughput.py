"""Throughput of the transformers engine: async interface (micro-batched) vs raw `model.generate`.
(benchmarks/engine_throughput.py compares it with the CTranslate2 engine.)

For each concurrency B in (1, 4, 8, 16): B distinct chat prompts, greedy, exactly
--tokens new tokens per request (the engine is given no end-of-sequence token, raw generate
gets min_new_tokens), so lengths are equal.
Prints tokens/s for the interface and for raw generate on the same left-padded batch,
the interface overhead %, the speed-up over one stream, and peak RSS.

    .venv/bin/python benchmarks/backend_throughput.py [--tokens 64] [--sizes 1 4 8 16] [--repeats 2]
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import time

import torch

from flowforge.llm.local import LocalLLM


def prompts(b: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"Write a short story about a robot named Unit-{i}."}] for i in range(b)]


def raw_generate(engine, msgs: list[list[dict]], tokens: int) -> float:
    enc = [engine.encode(m) for m in msgs]
    width = max(map(len, enc))
    ids = torch.full((len(enc), width), engine.pad_id)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(enc):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = engine.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=tokens,
                                    min_new_tokens=tokens, do_sample=False, pad_token_id=engine.pad_id)
    assert out.shape[1] - width == tokens
    return time.perf_counter() - t0


async def via_interface(llm: LocalLLM, msgs: list[list[dict]], tokens: int) -> float:
    t0 = time.perf_counter()
    outs = await asyncio.gather(*(llm.complete(m, max_tokens=tokens) for m in msgs))
    assert all(c.usage.completion_tokens == tokens for c in outs), [c.usage.completion_tokens for c in outs]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 8, 16])
    ap.add_argument("--repeats", type=int, default=2, help="best of N runs per cell")
    args = ap.parse_args()

    llm = LocalLLM("embedded")
    engine = llm.engine
    engine.eos_ids = []  # no end of sequence: every request generates exactly --tokens tokens
    raw_generate(engine, prompts(2), 8)  # warm-up
    print(f"torch threads={torch.get_num_threads()}  new tokens/request={args.tokens}")
    print(f"{'B':>3} {'interface tok/s':>16} {'raw tok/s':>10} {'overhead':>9} {'speed-up vs B=1':>16}")
    base = None
    for b in args.sizes:
        msgs = prompts(b)
        t_raw = min(raw_generate(engine, msgs, args.tokens) for _ in range(args.repeats))
        t_if = min(asyncio.run(via_interface(llm, msgs, args.tokens)) for _ in range(args.repeats))
        tps_if, tps_raw = b * args.tokens / t_if, b * args.tokens / t_raw
        base = base or tps_if
        print(f"{b:>3} {tps_if:>16.1f} {tps_raw:>10.1f} {100 * (t_if / t_raw - 1):>8.1f}% {tps_if / base:>15.2f}x")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
