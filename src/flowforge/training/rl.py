"""Stage 2: GRPO on workflow execution reward (TRL GRPOTrainer + LoRA, from the SFT adapter).

    flowforge train rl --out runs/rl --max-steps 30                       # CPU, embedded executor
    flowforge train rl --out runs/rl --executor openai:Qwen2.5-7B@http://localhost:8000/v1 \
        --base-model /models/qwen --use-vllm                               # GPU (not run here)
    accelerate launch -m flowforge train rl --use-vllm ...             # multi-GPU (not run here)

Each prompt is a (training task, operator-set variant) pair: the generator messages for the
task description over a subset/shuffle/renaming of the base operator set. GRPO samples
`num_generations` workflows per prompt; `training/reward.py` parses and runs each valid one on K
training instances shared by the group, and the reward is its mean task score plus small named
parts (valid, cost; `executes` is logged at weight 0). The policy starts from the SFT adapter
(kept trainable); with beta > 0 TRL keeps a frozen copy of that adapter as the KL reference.
Rerunning into the same `--out` resumes from the newest checkpoint. The run dir holds
`flowforge_config.json`, `log.jsonl` (reward mean/std per part, validity, KL, step time split
into generation / reward / update), `rewards.jsonl` (every completion, its parts and reason),
`rl.png`, `run_summary.json` and checkpoints every `--save-steps`.

GPU: `--use-vllm` passes `use_vllm=True` (colocate mode) to GRPOConfig, and the trainer runs
unchanged under `accelerate launch`; neither was run here (no GPU in the build environment).

Departures from the paper (MetaFlow) and from GRPO (DeepSeekMath):
- The reward is the mean score on K=3 sampled training instances (the paper executes on a task's
  instances too, but with larger K and a strong executor); with the 135M embedded executor the
  signal is dominated by the choice of tool operators.
- Named reward parts with a validity bonus and a small cost penalty, summed with weights; the
  paper uses the execution score only.
- LoRA instead of full fine-tuning; the KL reference is the SFT adapter, not the base model.
- TRL defaults otherwise (group-normalised advantages, one update per generation batch,
  `loss_type` TRL's default), not the original GRPO's per-sequence normalisation.
"""
from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowforge.errors import UserError
from flowforge.training.common import (
    RunLogCallback,
    load_base,
    lora_config,
    config_dict,
    export_adapter_fp16,
    last_checkpoint,
    peak_rss_mb,
    plot_curves,
    save_config,
    train_or_load_finished,
    write_json,
)
from flowforge.training.reward import PART_NAMES, WorkflowReward

SHIPPED_SFT = Path(__file__).resolve().parent.parent / "adapters" / "metaflow-sft"


@dataclass
class RLRunConfig:
    """flowforge's own GRPO settings; the rest are TRL GRPOConfig defaults (made CPU-safe)."""

    out_dir: Path = field(default=Path("runs/rl"), metadata={"help": "Run dir: checkpoints, logs, plots. Rerun to resume."})
    sft_adapter: Path | None = field(default=None, metadata={"help": "Starting adapter (default: the shipped metaflow-sft if present, else a fresh LoRA; 'none': fresh LoRA)."})
    base_model: str | None = field(default=None, metadata={"help": "Base checkpoint dir; default: the embedded SmolLM2-135M-Instruct."})
    export: Path | None = field(default=None, metadata={"help": "Where to write the fp16 RL adapter after training."})
    tasks: list[str] | None = field(default=None, metadata={"help": "Training tasks (default: every non-held-out task with a training split)."})
    operators: str = field(default="default", metadata={"help": "Base operator set; prompts use subsets/renamings of it."})
    variants_per_task: int = field(default=3, metadata={"help": "Operator-set variants per task (the first is the base set)."})
    executor: str = field(default="embedded", metadata={"help": "Executor spec that runs generated workflows."})
    k: int = field(default=3, metadata={"help": "Instances per reward (shared by a group, resampled each step)."})
    num_generations: int = field(default=4, metadata={"help": "Completions per prompt (GRPO group size)."})
    prompts_per_step: int = field(default=2, metadata={"help": "Prompts per optimizer step."})
    max_steps: int = field(default=30, metadata={"help": "Optimizer steps."})
    max_completion_length: int = field(default=256, metadata={"help": "Token budget for one generated workflow."})
    temperature: float = field(default=0.9, metadata={"help": "Sampling temperature for the group."})
    learning_rate: float = field(default=5e-5, metadata={"help": "LoRA learning rate."})
    beta: float = field(default=0.02, metadata={"help": "KL coefficient against the starting adapter (0 disables the reference)."})
    weight_valid: float = field(default=0.5, metadata={"help": "Reward weight of the `valid` part."})
    weight_score: float = field(default=1.0, metadata={"help": "Reward weight of the `score` part."})
    weight_cost: float = field(default=0.01, metadata={"help": "Reward weight of the `cost` part (tokens/1000, negative)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank when no starting adapter is given."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha when no starting adapter is given."})
    save_steps: int = field(default=5, metadata={"help": "Checkpoint every N steps."})
    concurrency: int = field(default=16, metadata={"help": "Concurrent workflow runs per reward execution."})
    timeout_s: float = field(default=60.0, metadata={"help": "Per-instance wall limit when executing a workflow for its reward."})
    micro_batch_size: int = field(default=2, metadata={"help": "Completions per forward/backward pass (gradient accumulation over the rest); bounds memory."})
    use_vllm: bool = field(default=False, metadata={"help": "GPU only: generate with vLLM (GRPOConfig use_vllm, colocate)."})
    seed: int = field(default=0, metadata={"help": "Seed for variants, instance sampling and training."})
    progress: bool = field(default=True, metadata={"help": "Show a rich progress bar."})

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.export = Path(self.export) if self.export else None
        if str(self.sft_adapter).lower() == "none" and self.sft_adapter is not None:
            self.sft_adapter = None  # explicit: start from a fresh LoRA on the base model
        elif self.sft_adapter is None and SHIPPED_SFT.joinpath("adapter_config.json").exists():
            self.sft_adapter = SHIPPED_SFT
        self.sft_adapter = Path(self.sft_adapter) if self.sft_adapter else None
        if self.sft_adapter and not (self.sft_adapter / "adapter_config.json").exists():
            raise UserError(f"--sft-adapter {self.sft_adapter}: no adapter_config.json there; "
                            "train one with `flowforge train sft --export DIR`")
        if self.num_generations < 2:
            raise UserError("--num-generations must be >= 2: GRPO compares completions within a group")
        batch = self.num_generations * self.prompts_per_step
        if self.micro_batch_size < 1 or batch % self.micro_batch_size:
            raise UserError(f"--micro-batch-size must divide num_generations * prompts_per_step = {batch}, "
                            f"got {self.micro_batch_size}")
        if self.timeout_s <= 0:
            raise UserError(f"--timeout-s must be > 0, got {self.timeout_s}")
        for name in ("k", "prompts_per_step", "max_steps", "variants_per_task", "max_completion_length", "save_steps"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.beta < 0 or self.temperature <= 0:
            raise UserError("--beta must be >= 0 and --temperature > 0")
        if self.weight_score <= 0:
            raise UserError("--weight-score must be > 0: the task score is the reward GRPO optimises")


def build_prompts(cfg: RLRunConfig) -> tuple[list[dict[str, Any]], dict[str, tuple[Any, Any]]]:
    """Dataset rows {prompt, variant} and the variant id -> (task, operator set) map."""
    from flowforge.generator.prompt import build_messages
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
            opset = base if kind == "base" else augment_opset(base, keep, rng, kind)[0]
            vid = f"{task.name}#{i}:{kind}"
            variants[vid] = (task, opset)
            rows.append({"prompt": build_messages(task.description, task.answer_format, opset), "variant": vid})
    rng.shuffle(rows)
    return rows, variants


def _timed_trainer_class():
    """GRPOTrainer that logs the step time split: generation / reward / update (seconds per step)."""
    from trl import GRPOTrainer

    class TimedGRPOTrainer(GRPOTrainer):
        _t = defaultdict(float)

        def _generate(self, prompts):
            t0 = time.monotonic()
            try:
                return super()._generate(prompts)
            finally:
                self._t["generation"] += time.monotonic() - t0

        def _calculate_rewards(self, *args, **kw):
            t0 = time.monotonic()
            try:
                return super()._calculate_rewards(*args, **kw)
            finally:
                self._t["reward"] += time.monotonic() - t0

        def training_step(self, *args, **kw):
            self._t.clear()
            t0 = time.monotonic()
            out = super().training_step(*args, **kw)
            total = time.monotonic() - t0
            # called once per micro-batch and TRL logs the mean over an optimizer step's calls,
            # so scaling by their number logs the step's total
            a, m = self.args.gradient_accumulation_steps, self._metrics["train"]
            m["time/generation_s"].append(a * self._t["generation"])
            m["time/reward_s"].append(a * self._t["reward"])
            m["time/update_s"].append(a * (total - self._t["generation"] - self._t["reward"]))
            return out

    return TimedGRPOTrainer


def load_policy(cfg: RLRunConfig):
    """(model, tokenizer, peft_config): the SFT adapter made trainable, or a base model + fresh LoRA config."""
    model, tok, base_path = load_base(cfg.base_model)
    tok.padding_side = "left"  # generation
    if cfg.sft_adapter:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(cfg.sft_adapter), is_trainable=True), tok, None, base_path
    return model, tok, lora_config(cfg.lora_r, cfg.lora_alpha, 0.0, "all-linear"), base_path


def train_rl(cfg: RLRunConfig, executor=None, reward_run=None) -> dict[str, Any]:
    """Train (or resume) GRPO; returns the run summary (also run_summary.json).
    `executor` overrides cfg.executor (tests pass a fake); `reward_run` wraps the runtime call."""
    from datasets import Dataset
    from trl import GRPOConfig

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
    weights = {"valid": cfg.weight_valid, "score": cfg.weight_score, "cost": cfg.weight_cost, "executes": 0.0}
    # 2. GRPO config: one generation batch = prompts_per_step groups, one optimizer step per batch,
    #    backpropagated in micro-batches (gradient accumulation) to bound memory
    accumulate = cfg.num_generations * cfg.prompts_per_step // cfg.micro_batch_size
    args = GRPOConfig(
        output_dir=str(cfg.out_dir), max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.micro_batch_size, gradient_accumulation_steps=accumulate,
        steps_per_generation=accumulate, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature,
        beta=cfg.beta, reward_weights=[weights[p] for p in PART_NAMES], use_vllm=cfg.use_vllm,
        vllm_mode="colocate", bf16=False, gradient_checkpointing=False, use_cpu=not cfg.use_vllm,
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=2, logging_steps=1,
        report_to="none", seed=cfg.seed, disable_tqdm=True, dataloader_num_workers=0,
    )
    trainer = _timed_trainer_class()(
        model=model, args=args, reward_funcs=reward.functions(), train_dataset=Dataset.from_list(rows),
        processing_class=tok, peft_config=peft_config,
        callbacks=[RunLogCallback(cfg.out_dir, ("reward", "rewards/score/mean", "kl"), show=cfg.progress)])
    resume = last_checkpoint(cfg.out_dir)
    # 3. train, save, plot
    train_or_load_finished(trainer, resume, cfg.max_steps)
    trainer.save_model(str(cfg.out_dir / "final"))
    keys = ["reward", "reward_std", "rewards/score/mean", "rewards/valid/mean", "rewards/cost/mean",
            "rewards/executes/mean", "kl", "completions/mean_length",
            "time/generation_s", "time/reward_s", "time/update_s"]
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
    if cfg.export:
        summary["adapter_bytes"] = export_adapter_fp16(trainer.model, cfg.export)
    write_json(cfg.out_dir / "run_summary.json", summary)
    return summary
