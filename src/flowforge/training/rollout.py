"""GRPO rollouts decoded the way `flowforge generate` decodes: a TRL `rollout_func`.

TRL samples with a plain `model.generate`, so on a renamed or extended operator set the policy
writes operator names and arguments the prompt does not offer. The product's constrained decoder
(`generator/typed_args.py`) never lets those through, so unconstrained RL trains on samples users
never get: they are invalid, score 0, and a group of equal rewards has no gradient.
`ConstrainedRollout` samples each prompt's completions from the policy under the same
`TypedOpsConstraint` the generator uses for that prompt's operator set, at the run's temperature.
TRL then scores the sampled tokens with the policy's own (unmasked) log-probabilities.
"""
from __future__ import annotations

import json
import zlib
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessorList


def _key(prompt: Any) -> str:
    return json.dumps(prompt, sort_keys=True)


class ConstrainedRollout:
    """`rollout_func(prompts, trainer)`: one constrained sample per prompt entry (TRL's sampler
    already repeats each prompt `num_generations` times), seeded by (seed, step, row)."""

    def __init__(self, rows: list[dict], variants: dict[str, tuple[Any, Any]], tokenizer, *,
                 temperature: float, max_new_tokens: int, seed: int):
        from flowforge.generator.typed_args import TypedOpsConstraint
        from flowforge.llm.local import TokenMasks

        self.constraints = {_key(r["prompt"]): TypedOpsConstraint.for_opset(variants[r["variant"]][1]) for r in rows}
        self.tok, self.masks = tokenizer, TokenMasks(tokenizer)
        self.temperature, self.max_new_tokens, self.seed = temperature, max_new_tokens, seed

    def prompt_ids(self, prompt: list[dict]) -> list[int]:
        return list(self.tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                                 return_dict=True)["input_ids"])

    def __call__(self, prompts: list, trainer) -> dict[str, Any]:
        from flowforge.llm.local import RowConstrain, RowSampler

        ids = [self.prompt_ids(p) for p in prompts]
        constraints = [self.constraints[_key(p)] for p in prompts]
        step = trainer.state.global_step
        gens = [torch.Generator().manual_seed(zlib.crc32(f"{self.seed}/{step}/{i}".encode())) for i in range(len(ids))]
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.tok.eos_token_id
        width = max(len(p) for p in ids)
        batch = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros_like(batch)
        for i, p in enumerate(ids):  # left padding
            batch[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        model = trainer.accelerator.unwrap_model(trainer.model)
        eos = sorted({self.tok.eos_token_id} | set(_as_list(model.generation_config.eos_token_id)) - {None})
        processors = LogitsProcessorList([RowConstrain(width, constraints, self.masks),
                                          RowSampler([self.temperature] * len(ids), gens)])
        config = GenerationConfig(max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad, eos_token_id=eos)
        device = next(model.parameters()).device
        with torch.no_grad():
            out = model.generate(input_ids=batch.to(device), attention_mask=mask.to(device),
                                 generation_config=config, logits_processor=processors)
        completions = []
        for row in out[:, width:].tolist():
            end = next((j + 1 for j, t in enumerate(row) if t in eos), len(row))  # keep the EOS token
            completions.append(row[:end])
        return {"prompt_ids": ids, "completion_ids": completions, "logprobs": None}


def _as_list(x) -> list:
    return [] if x is None else [x] if isinstance(x, int) else list(x)
