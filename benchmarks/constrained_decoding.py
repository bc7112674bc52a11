"""What the operator-call constraint costs: generator wall time with and without it, the automaton
states it cached, and their memory.

    .venv/bin/python benchmarks/constrained_decoding.py --tasks hotpotqa,bbh/hyperbaton --operators novel

Each task's greedy workflow is generated twice with the shipped generator, uncached: free, then
constrained (so the constrained pass pays for computing every state's mask it meets for the first time).
"""
from __future__ import annotations

import argparse
import asyncio
import time


async def run(args) -> None:
    from flowforge.generator import default_generator_spec
    from flowforge.generator.generate import sample_workflows
    from flowforge.llm import load_llm
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task

    llm = load_llm(args.generator or default_generator_spec(), cache=False)
    engine = llm.masking_engine()  # the transformers engine: constrained requests always run there
    print(f"free pass on the {llm.engine_kind} engine, constrained pass on transformers")
    opset = load_operator_set(args.operators)
    tasks = [get_task(t.strip()) for t in args.tasks.split(",") if t.strip()]
    engine.token_texts  # decoded once per engine; not part of either pass
    for constrain in (False, True):
        t0 = time.perf_counter()
        gens = await asyncio.gather(*[sample_workflows(t, opset, llm, constrain=constrain) for t in tasks])
        wall = time.perf_counter() - t0
        tokens = sum(g.usage.completion_tokens for g in gens)
        valid = sum(g.candidates[0].valid for g in gens)
        print(f"{'constrained' if constrain else 'free':<12} {wall:7.1f} s  {tokens:5d} tokens  "
              f"{tokens / wall:5.1f} tok/s  valid {valid}/{len(gens)}")
    states, nbytes = engine.constraint_cache_info()
    print(f"automaton states cached: {states}, mask memory {nbytes / 2**20:.1f} MiB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--generator", default=None, help="default: the shipped generator")
    p.add_argument("--tasks", default="hotpotqa,bbh/hyperbaton,bbh/dyck_languages,humaneval")
    p.add_argument("--operators", default="novel")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
