"""The settings of each training stage, one dataclass per command (`flowforge train synth|sft|rl`).

The CLI builds its options from these fields (flowforge/config_cli.py): one `--field-name` per
field, help from its metadata, and `--config FILE.yaml` with the same keys. Validation lives in
`__post_init__`, so a config from code, YAML or flags is checked the same way. This module stays
light (no torch/transformers) so `flowforge --help` is fast.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flowforge.errors import UserError


def _at_least_one(cfg, *names: str) -> None:
    """UserError naming the flag of the first of `names` that is below 1."""
    for name in names:
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(cfg, name)}")


@dataclass
class SynthConfig:
    """flowforge's synthetic-data settings."""

    out_dir: Path = field(default=Path("runs/synth"), metadata={"help": "Output dir (candidates.jsonl, sft.jsonl); rerun to resume."})
    tasks: list[str] | None = field(default=None, metadata={"help": "Training tasks to use (default: every non-held-out task with a training split)."})
    operators: str = field(default="default", metadata={"help": "Base operator set (name or YAML)."})
    executor: str = field(default="embedded", metadata={"help": "Executor model spec that runs candidate workflows."})
    teacher: str | None = field(default=None, metadata={"help": "Optional generator spec whose samples join the template candidates."})
    teacher_samples: int = field(default=4, metadata={"help": "Teacher samples per task."})
    k: int = field(default=3, metadata={"help": "Training instances each candidate runs on."})
    candidates_per_task: int = field(default=8, metadata={"help": "Template candidates per task (each template at least once, if it fits)."})
    max_heavy_per_task: int = field(default=2, metadata={"help": "Cap on LLM-heavy candidates per task (ensembles, review loops, test repair)."})
    top_m: int = field(default=4, metadata={"help": "Workflows kept per task (balance across tasks)."})
    augment: int = field(default=4, metadata={"help": "Operator-set variants (prompts) per kept workflow; the first is the base set."})
    min_score: float = field(default=0.0, metadata={"help": "Drop kept workflows scoring below this mean."})
    baseline: str | None = field(default="io", metadata={"help": "Reference workflow run on the same instances; only candidates that beat its mean are kept (none: no gate)."})
    compositions: bool = field(default=True, metadata={"help": "On procedural (synth/) tasks, also run the curriculum's compositions, minus the held-out families' winners."})
    max_tokens: int = field(default=128, metadata={"help": "Cap on every executor call's completion tokens (keeps synth cheap on CPU)."})
    parallel_candidates: int = field(default=12, metadata={"help": "Candidates run at once (across tasks), sharing executor batches."})
    concurrency: int = field(default=16, metadata={"help": "Concurrent workflow runs per candidate."})
    seed: int = field(default=0, metadata={"help": "Seed for instances, template knobs and augmentation."})

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        _at_least_one(self, "k", "candidates_per_task", "top_m", "augment", "concurrency", "parallel_candidates")
        if self.max_heavy_per_task < 0 or self.teacher_samples < 0:
            raise UserError("--max-heavy-per-task and --teacher-samples must be >= 0")
        if self.baseline in ("", "none"):
            self.baseline = None
        if self.baseline is not None:
            from flowforge.workflow.reference import reference_path

            reference_path(self.baseline)  # UserError naming the choices


@dataclass
class SFTRunConfig:
    """flowforge's own SFT settings; everything else is TRL's SFTConfig default (CPU-safe)."""

    data: Path = field(default=Path("runs/synth/sft.jsonl"), metadata={"help": "SFT JSONL from `flowforge train synth` (prompt messages + completion)."})
    out_dir: Path = field(default=Path("runs/sft"), metadata={"help": "Run dir: checkpoints, logs, plots. Rerun to resume."})
    base_model: str | None = field(default=None, metadata={"help": "Base checkpoint dir; default: the embedded SmolLM2-135M-Instruct."})
    export: Path | None = field(default=None, metadata={"help": "Where to write the fp16 adapter + model card after training."})
    init_adapter: Path | None = field(default=None, metadata={"help": "Continue training this LoRA adapter (e.g. the shipped metaflow-sft) instead of a fresh one; the --lora-* settings then come from it."})
    epochs: float = field(default=2.0, metadata={"help": "Passes over the data (ignored when max_steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: use epochs)."})
    batch_size: int = field(default=8, metadata={"help": "Examples per optimizer step (per device)."})
    micro_batch_size: int = field(default=2, metadata={"help": "Examples per forward pass; batch_size/micro_batch_size steps are accumulated (memory: ~2.5 GB per example of ~650 tokens)."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak LR (cosine decay, 5% warmup)."})
    max_length: int = field(default=1024, metadata={"help": "Longer examples are truncated (prompt side kept)."})
    max_examples: int | None = field(default=None, metadata={"help": "Use only the first N examples (smoke runs)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_targets: str = field(default="all-linear", metadata={"help": "PEFT target_modules: 'all-linear' or comma-separated names."})
    save_steps: int = field(default=25, metadata={"help": "Checkpoint every N steps (resume point)."})
    save_total_limit: int = field(default=2, metadata={"help": "Keep only the newest N checkpoints."})
    logging_steps: int = field(default=1, metadata={"help": "Log loss every N steps."})
    seed: int = field(default=0, metadata={"help": "Seed for shuffling, LoRA init and dropout."})
    progress: bool = field(default=True, metadata={"help": "Show a rich progress bar."})

    def __post_init__(self) -> None:
        self.data, self.out_dir = Path(self.data), Path(self.out_dir)
        self.export = Path(self.export) if self.export else None
        self.init_adapter = Path(self.init_adapter) if self.init_adapter else None
        if self.init_adapter and not (self.init_adapter / "adapter_config.json").is_file():
            raise UserError(f"--init-adapter {self.init_adapter}: no adapter_config.json there")
        if not self.data.is_file():
            raise UserError(f"--data {self.data}: file not found; make it with `flowforge train synth --out DIR` "
                            "and pass DIR/sft.jsonl")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise UserError("nothing to train: set --epochs > 0 or --max-steps > 0")
        if self.batch_size < 1 or self.micro_batch_size < 1 or self.batch_size % self.micro_batch_size:
            raise UserError(f"--batch-size ({self.batch_size}) must be a positive multiple of --micro-batch-size "
                            f"({self.micro_batch_size})")
        if self.max_length < 64:
            raise UserError(f"--max-length {self.max_length} cannot hold a prompt and a workflow; use >= 64 (default 1024)")
        if self.lora_r < 1 or self.lora_alpha < 1:
            raise UserError("--lora-r and --lora-alpha must be >= 1")
        if not 0 <= self.lora_dropout < 1:
            raise UserError(f"--lora-dropout must be in [0, 1), got {self.lora_dropout}")


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
    k: int = field(default=4, metadata={"help": "Instances per reward (shared by a group, resampled each step)."})
    num_generations: int = field(default=4, metadata={"help": "Completions per prompt (GRPO group size)."})
    prompts_per_step: int = field(default=2, metadata={"help": "Prompts per optimizer step."})
    max_steps: int = field(default=30, metadata={"help": "Optimizer steps."})
    max_completion_length: int = field(default=256, metadata={"help": "Token budget for one generated workflow."})
    temperature: float = field(default=0.9, metadata={"help": "Sampling temperature for the group."})
    constrained: bool = field(default=True, metadata={"help": "Sample under the generator's operator-call constraint, as `flowforge generate` decodes (transformers policy only; not with use_vllm)."})
    learning_rate: float = field(default=5e-5, metadata={"help": "LoRA learning rate."})
    beta: float = field(default=0.02, metadata={"help": "KL coefficient against the starting adapter (0 disables the reference)."})
    weight_valid: float = field(default=0.0, metadata={"help": "Reward weight of the `valid` part (a do-nothing workflow collects it: logged only by default)."})
    weight_score: float = field(default=1.0, metadata={"help": "Reward weight of the `score` part."})
    weight_cost: float = field(default=0.0, metadata={"help": "Reward weight of the `cost` part (tokens/1000, negative; a do-nothing workflow pays none: logged only by default)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank when no starting adapter is given."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha when no starting adapter is given."})
    save_steps: int = field(default=5, metadata={"help": "Checkpoint every N steps."})
    concurrency: int = field(default=16, metadata={"help": "Concurrent workflow runs per reward execution."})
    timeout_s: float = field(default=60.0, metadata={"help": "Per-instance wall limit when executing a workflow for its reward."})
    micro_batch_size: int = field(default=2, metadata={"help": "Completions per forward/backward pass (gradient accumulation over the rest); bounds memory."})
    use_vllm: bool = field(default=False, metadata={"help": "GPU only: generate with vLLM (GRPOConfig use_vllm)."})
    vllm_mode: str = field(default="colocate", metadata={"help": "With use_vllm: 'colocate' (vLLM inside each training process) or 'server' (a separate `trl vllm-serve` process; see configs/accelerate/README.md)."})
    vllm_server_base_url: str | None = field(default=None, metadata={"help": "With vllm_mode server: the `trl vllm-serve` URL (default http://localhost:8000)."})
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
        _at_least_one(self, "k", "prompts_per_step", "max_steps", "variants_per_task", "max_completion_length", "save_steps")
        if self.beta < 0 or self.temperature <= 0:
            raise UserError("--beta must be >= 0 and --temperature > 0")
        if self.weight_score <= 0:
            raise UserError("--weight-score must be > 0: the task score is the reward GRPO optimises")
        if self.vllm_mode not in ("colocate", "server"):
            raise UserError(f"--vllm-mode must be colocate or server, got {self.vllm_mode!r}")
        if self.use_vllm and self.constrained:
            raise UserError("--use-vllm samples with vLLM, which does not take the operator-call constraint; "
                            "add --no-constrained")
