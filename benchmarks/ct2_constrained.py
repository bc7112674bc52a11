"""Can the CTranslate2 engine apply the operator-call constraint, and at what cost?

ctranslate2's Python `generate_batch` has no per-step logits hook, only a per-token callback that
can end a row. So the only way to constrain it is stop-and-restart: generate greedily; when a
token breaks the constraint, the callback ends the row, the best allowed token is taken from that
step's log-probs (`return_logits_vocab`), and generation restarts from prompt + prefix (a new
prefill). This script does that for each task's greedy workflow with the shipped generator, and
compares it with constrained decoding on the transformers engine (per-step masks) and with free
decoding on both engines: wall time, tokens, restarts, valid workflows, and whether the two
constrained texts agree. Both constrained runs apply the operator-call rules (`OpsConstraint`);
the argument-type rules (`generator/typed_args.py`) run the validator on prefixes and exist only
as per-step masks.

    nice -n 5 .venv/bin/python benchmarks/ct2_constrained.py --tasks gsm8k,hotpotqa,bbh/hyperbaton
"""
from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np


def ct2_constrained_greedy(engine, prompt_ids: list[int], constraint, texts: list[str], max_new: int):
    """Greedy decoding on a CT2Engine's generator under `constraint` by stop-and-restart.
    Returns (generated ids, restarts)."""
    out: list[int] = []
    state, restarts, banned_cache = constraint.initial, 0, {}
    while len(out) < max_new:
        got, states, broke = [], [state], {}

        def step(s) -> bool:
            nxt = constraint.advance(states[-1], texts[s.token_id])
            if nxt is None:  # this token breaks the rules: keep the step's log-probs and stop
                broke["logp"] = np.array(s.logits, dtype=np.float32).reshape(-1)
                return True
            got.append(s.token_id)
            states.append(nxt)
            return len(out) + len(got) >= max_new

        engine.generator.generate_batch(
            [engine.tok.convert_ids_to_tokens(prompt_ids + out)], max_length=max_new - len(out),
            include_prompt_in_result=False, end_token=engine.eos_ids, return_logits_vocab=True, callback=step)
        out += [t for t in got if t not in engine.eos_ids]
        state = states[-1]
        if "logp" not in broke or any(t in engine.eos_ids for t in got):
            break
        if state not in banned_cache:
            banned_cache[state] = constraint.banned(state, texts)
        logp = broke["logp"][: len(texts)]
        logp[banned_cache[state]] = -np.inf
        tok = int(np.argmax(logp))
        restarts += 1
        if tok in engine.eos_ids:
            break
        out.append(tok)
        state = constraint.advance(state, texts[tok])
    return out, restarts


async def run(args) -> None:
    from flowforge.generator import default_generator_spec
    from flowforge.generator.constrain import OpsConstraint
    from flowforge.generator.generate import MAX_TOKENS
    from flowforge.generator.prompt import WORKFLOW
    from flowforge.llm import load_llm
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task

    spec = args.generator or default_generator_spec()
    fast = load_llm(spec + "@ct2", cache=False)
    slow = load_llm(spec + "@transformers", cache=False)
    engine, masking = fast.load(), slow.load()
    texts = masking.token_texts  # decoded once; not part of any pass
    base = load_operator_set(args.operators)
    tasks = [get_task(t.strip()) for t in args.tasks.split(",") if t.strip()]
    for name, llm, constrained in (("free ct2", fast, False), ("free transformers", slow, False),
                                   ("constrained transformers", slow, True)):
        t0, tokens, valid, texts_out = time.perf_counter(), 0, 0, []
        for t in tasks:  # one at a time, greedy, the same rules as the ct2 restart loop below
            opset = base.for_task(t)
            msgs = WORKFLOW.messages(t.description, t.answer_format, opset, [])
            kw = {"constraint": OpsConstraint.for_opset(opset)} if constrained else {}
            out = await llm.complete(msgs, temperature=0.0, max_tokens=MAX_TOKENS, seed=0, **kw)
            texts_out.append(out.texts[0])
            tokens, valid = tokens + out.usage.completion_tokens, valid + WORKFLOW.parse(out.texts[0], opset).valid
        wall = time.perf_counter() - t0
        print(f"{name:<26} {wall:7.1f} s  {tokens:5d} tokens  {tokens / wall:5.1f} tok/s  valid {valid}/{len(tasks)}",
              flush=True)
        if constrained:
            reference = texts_out
    t0, tokens, restarts, valid, outs = time.perf_counter(), 0, 0, 0, []
    for t in tasks:
        opset = base.for_task(t)
        msgs = WORKFLOW.messages(t.description, t.answer_format, opset, [])
        ids, r = ct2_constrained_greedy(engine, engine.encode(msgs), OpsConstraint.for_opset(opset), texts, MAX_TOKENS)
        text = engine.tok.decode(ids, skip_special_tokens=True)
        outs.append(text)
        tokens, restarts, valid = tokens + len(ids), restarts + r, valid + WORKFLOW.parse(text, opset).valid
    wall = time.perf_counter() - t0
    print(f"{'constrained ct2 (restart)':<26} {wall:7.1f} s  {tokens:5d} tokens  {tokens / wall:5.1f} tok/s  "
          f"valid {valid}/{len(tasks)}  restarts {restarts}")
    same = sum(a == b for a, b in zip(outs, reference))
    print(f"constrained texts identical across engines: {same}/{len(tasks)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="gsm8k,hotpotqa,bbh/hyperbaton")
    ap.add_argument("--operators", default="default")
    ap.add_argument("--generator", default=None, help="generator spec without an engine (default: the shipped one)")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
