"""Stage 2: GRPO on workflow execution reward (TRL GRPOTrainer + LoRA, from the SFT adapter).

    flowforge train rl --out runs/rl --max-steps 30                       # CPU, embedded executor
    flowforge train rl --out runs/rl --executor openai:Qwen2.5-7B@http://localhost:8000/v1 \
        --base-model /models/qwen --use-vllm --no-constrained              # GPU (not run here)
    accelerate launch --config_file configs/accelerate/cpu_ddp.yaml -m flowforge train rl ...  # 2 CPU processes
    accelerate launch --config_file configs/accelerate/grpo_vllm_server.yaml -m flowforge train rl \
        --use-vllm --no-constrained --vllm-mode server ...             # multi-GPU (not run here)

Each prompt is a (training task, operator-set variant) pair: the generator messages for the
task description over a subset/shuffle/renaming of the base operator set. GRPO samples
`num_generations` workflows per prompt under the generator's operator-call constraint for that
set (`training/rollout.py`; `--no-constrained` samples freely, as TRL does).
`training/reward.py` parses and runs each valid one on K training instances shared by the
group, and the reward is its mean task score. The other named parts (valid, cost, executes) are
logged at weight 0 by default: a do-nothing workflow collects them. The policy starts from the
SFT adapter (kept trainable); with beta > 0 TRL keeps a frozen copy of that adapter as the KL
reference.
Rerunning into the same `--out` resumes from the newest checkpoint. The run dir holds
`flowforge_config.json`, `log.jsonl` (reward mean/std per part, validity, KL, step time split
into generation / reward / update), `rewards.jsonl` (every completion, its parts and reason),
`rl.png`, `run_summary.json` and checkpoints every `--save-steps`.

Under `accelerate launch` each process samples its own groups and executes their rewards; the
two-process CPU run is tested. GPU: `--use-vllm` generates with vLLM, in each training process
(`--vllm-mode colocate`) or on a `trl vllm-serve` server (`--vllm-mode server`); see
configs/accelerate/README.md. No GPU path was run here (no GPU in the build environment).

Departures from the paper (MetaFlow) and from GRPO (DeepSeekMath):
- The reward is the mean score on K=4 sampled training instances (the paper executes on a task's
  instances too, but with larger K and a strong executor); with the 135M embedded executor the
  signal is dominated by the choice of tool operators, which is why
  `configs/train/rl-curriculum.yaml` trains on the curriculum's families only.
- LoRA instead of full fine-tuning; the KL reference is the SFT adapter, not the base model.
- TRL defaults otherwise (group-normalised advantages, one update per generation batch,
  `loss_type` TRL's default), not the original GRPO's per-sequence normalisation.
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from flowforge.training.config import RLRunConfig
from flowforge.training.common import (
    RunLogCallback,
    load_trainable,
    lora_config,
    config_dict,
    export_adapter_fp16,
    bf16_on_gpu,
    last_checkpoint,
    on_gpu,
    peak_rss_mb,
    plot_curves,
    save_config,
    train_or_load_finished,
    write_json,
)
from flowforge.training.reward import PART_NAMES, WorkflowReward
from flowforge.training.rollout import ConstrainedRollout

def build_prompts(cfg: RLRunConfig) -> tuple[list[dict[str, Any]], dict[str, tuple[Any, Any]]]:
    """Dataset rows {prompt, variant} and the variant id -> (task, operator set) map."""
    from flowforge.generator.prompt import WORKFLOW
    from flowforge.operators import load_operator_set
    from flowforge.operators.augment import AUG_KINDS, augment_opset
    from flowforge.training.synth import training_tasks

    base = load_operator_set(cfg.operators)
    rng = random.Random(f"{cfg.seed}/rl-variants")
    rows, variants = [], {}
    for task in training_tasks(cfg.tasks):
        # subsets keep the operators this family is built around (and a plain answer operator)
        keep = [op.name for op in base.operators if op.impl in set(task.winning_operators) | {"answer_generate"}]
        for i in range(cfg.variants_per_task):
            kind = "base" if i == 0 else rng.choice(AUG_KINDS)
            opset = (base if kind == "base" else augment_opset(base, keep, rng, kind)[0]).for_task(task)
            vid = f"{task.name}#{i}:{kind}"
            variants[vid] = (task, opset)
            rows.append({"prompt": WORKFLOW.messages(task.description, task.answer_format, opset), "variant": vid})
    rng.shuffle(rows)
    return rows, variants


class StepTimes(TrainerCallback):
    """Splits each optimizer step's wall time into generation, reward execution and update, from
    public hooks only: the step's begin and end (callback events) and the reward's own timeline
    (`WorkflowReward.timeline`). TRL generates a step's completions just before it asks for their
    rewards, so generation is the time from the step's start to its first reward computation.
    Adds `time/generation_s`, `time/reward_s` and `time/update_s` to the step's log line (this
    callback must come before the one that writes the log)."""

    def __init__(self, reward: WorkflowReward):
        self.reward, self.t0, self.last = reward, 0.0, {}

    def on_step_begin(self, args, state, control, **kw):
        self.t0 = time.monotonic()

    def on_step_end(self, args, state, control, **kw):
        now = time.monotonic()
        spans = [(s, e) for s, e in self.reward.timeline if s >= self.t0]
        reward = sum(e - s for s, e in spans)
        generation = spans[0][0] - self.t0 if spans else 0.0
        self.last = {"time/generation_s": round(generation, 3), "time/reward_s": round(reward, 3),
                     "time/update_s": round(now - self.t0 - generation - reward, 3)}

    def on_log(self, args, state, control, logs=None, **kw):
        if logs is not None and "reward" in logs:
            logs.update(self.last)


def load_policy(cfg: RLRunConfig):
    """(model, tokenizer, peft_config): the SFT adapter made trainable, or a base model + fresh LoRA config."""
    model, tok, peft_config, base_path = load_trainable(cfg.base_model, cfg.sft_adapter,
                                                        lora_config(cfg.lora_r, cfg.lora_alpha, 0.0, "all-linear"))
    tok.padding_side = "left"  # generation
    return model, tok, peft_config, base_path


def reward_weights(cfg: RLRunConfig) -> list[float]:
    """TRL's weight for each reward part, in PART_NAMES order (`executes` is a diagnostic)."""
    weights = {"valid": cfg.weight_valid, "score": cfg.weight_score, "cost": cfg.weight_cost, "executes": 0.0}
    return [weights[p] for p in PART_NAMES]


def grpo_config(cfg: RLRunConfig):
    """TRL's GRPOConfig for `cfg`: one generation batch = prompts_per_step groups per process, one
    optimizer step per batch, backpropagated in micro-batches (gradient accumulation) to bound
    memory; GPU and bf16 when there is one, vLLM (colocate or server) when asked."""
    from trl import GRPOConfig

    accumulate = cfg.num_generations * cfg.prompts_per_step // cfg.micro_batch_size
    return GRPOConfig(
        output_dir=str(cfg.out_dir), max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.micro_batch_size, gradient_accumulation_steps=accumulate,
        steps_per_generation=accumulate, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature,
        beta=cfg.beta, reward_weights=reward_weights(cfg), use_vllm=cfg.use_vllm,
        vllm_mode=cfg.vllm_mode, **({"vllm_server_base_url": cfg.vllm_server_base_url} if cfg.vllm_server_base_url else {}),
        bf16=bf16_on_gpu(), gradient_checkpointing=False, use_cpu=not on_gpu(),
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=2, logging_steps=1,
        report_to="none", seed=cfg.seed, disable_tqdm=True, dataloader_num_workers=0,
    )


def train_rl(cfg: RLRunConfig, executor=None, reward_run=None) -> dict[str, Any]:
    """Train (or resume) GRPO; returns the run summary (also run_summary.json).
    `executor` overrides cfg.executor (tests pass a fake); `reward_run` wraps the runtime call."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from flowforge.llm import load_llm

    t0 = time.monotonic()
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, cfg.out_dir)
    # 1. prompts, reward, policy
    rows, variants = build_prompts(cfg)
    reward = WorkflowReward(executor or load_llm(cfg.executor), variants, k=cfg.k, seed=cfg.seed,
                            concurrency=cfg.concurrency, timeout_s=cfg.timeout_s,
                            log_path=cfg.out_dir / "rewards.jsonl", run=reward_run)
    model, tok, peft_config, base_path = load_policy(cfg)
    args = grpo_config(cfg)
    rollout = None
    if cfg.constrained:
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental
        rollout = ConstrainedRollout(rows, variants, tok, temperature=cfg.temperature,
                                     max_new_tokens=cfg.max_completion_length, seed=cfg.seed)
    trainer = GRPOTrainer(
        model=model, args=args, reward_funcs=reward.functions(), train_dataset=Dataset.from_list(rows),
        processing_class=tok, peft_config=peft_config, rollout_func=rollout,
        callbacks=[StepTimes(reward), RunLogCallback(cfg.out_dir, ("reward", "rewards/score/mean", "kl"), show=cfg.progress)])
    resume = last_checkpoint(cfg.out_dir)
    # 3. train, save, plot
    train_or_load_finished(trainer, resume, cfg.max_steps)
    trainer.save_model(str(cfg.out_dir / "final"))
    keys = ["reward", "reward_std", "rewards/score/mean", "rewards/valid/mean", "rewards/cost/mean",
            "rewards/executes/mean", "kl", "completions/mean_length",
            "time/generation_s", "time/reward_s", "time/update_s"]
    if trainer.is_world_process_zero():  # under accelerate, the main process writes the plot
        plot_curves(cfg.out_dir, keys, "rl.png", "GRPO on workflow execution reward")
    hist = [r for r in trainer.state.log_history if "reward" in r]
    summary = {
        "stage": "rl", "steps": trainer.state.global_step, "prompts": len(rows), "variants": len(variants),
        "base_model": base_path, "start_adapter": str(cfg.sft_adapter) if cfg.sft_adapter else None,
        "first_reward": hist[0]["reward"] if hist else None, "last_reward": hist[-1]["reward"] if hist else None,
        "reward_calls": reward.calls, "reward_seconds": round(reward.seconds, 1),
        "wall_s": round(time.monotonic() - t0, 1), "peak_rss_mb": round(peak_rss_mb(), 1), "resumed_from": resume,
        "config": config_dict(cfg),
    }
    if not trainer.is_world_process_zero():
        return summary
    if cfg.export:
        summary["adapter_bytes"] = export_adapter_fp16(trainer.model, cfg.export)
    write_json(cfg.out_dir / "run_summary.json", summary)
    return summary
