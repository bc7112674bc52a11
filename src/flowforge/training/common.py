"""Shared training plumbing: base model and LoRA config, run-dir logging callback, resume
detection, plots, adapter export.

Used by `training/sft.py` and `training/rl.py`; nothing here knows which stage it serves.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerState

from flowforge.store import JsonlAppender, read_records
from transformers.trainer_utils import get_last_checkpoint


def on_gpu() -> bool:
    """Train on the accelerator when there is one (each rank gets its own under accelerate), else CPU."""
    import torch

    return torch.cuda.is_available()


def bf16_on_gpu() -> bool:
    """bf16 training where the accelerator supports it; fp32 on CPU."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def config_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as JSON-able values (Paths become strings)."""
    assert is_dataclass(cfg)
    return {f.name: (str(v) if isinstance(v, Path) else v) for f in fields(cfg) for v in [getattr(cfg, f.name)]}


def save_config(cfg: Any, out_dir: Path, name: str = "flowforge_config.json") -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / name).write_text(json.dumps(config_dict(cfg), indent=2) + "\n")


def last_checkpoint(out_dir: Path) -> str | None:
    """The newest `checkpoint-N` in out_dir, if a previous run left one (resume from it)."""
    return get_last_checkpoint(str(out_dir)) if out_dir.is_dir() else None


def lora_config(r: int, alpha: int, dropout: float, targets: str):
    from peft import LoraConfig

    target = targets if targets == "all-linear" else [t.strip() for t in targets.split(",") if t.strip()]
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target, task_type="CAUSAL_LM")


def load_base(path: str | None):
    """(model, tokenizer, path) in fp32 for CPU training; default base = the embedded model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if path is None:
        from flowforge.llm.embedded import embedded_model_dir, set_torch_threads

        set_torch_threads()
        path = str(embedded_model_dir())
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tok, path


def load_trainable(base_model: str | None, adapter: Path | None, fresh_lora):
    """(model, tokenizer, peft_config, base path): `adapter` loaded trainable on the base (peft_config
    None), or the base model with `fresh_lora` for the trainer to wrap."""
    model, tok, base_path = load_base(base_model)
    if adapter:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(adapter), is_trainable=True), tok, None, base_path
    return model, tok, fresh_lora, base_path


def train_or_load_finished(trainer, resume: str | None, max_steps: int):
    """`trainer.train(resume_from_checkpoint=resume)`, except that a checkpoint which already
    reached max_steps is loaded instead (transformers would run one more step): rerunning a
    finished run only re-exports. Returns the TrainOutput, or None when nothing was trained."""
    if resume and max_steps > 0:
        state = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json"))
        if state.global_step >= max_steps:
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            set_peft_model_state_dict(trainer.model, load_file(str(Path(resume) / "adapter_model.safetensors")))
            trainer.state = state
            return None
    return trainer.train(resume_from_checkpoint=resume)


class RunLogCallback(TrainerCallback):
    """Appends every Trainer log line to `log.jsonl` (with wall time and peak RSS) and shows a rich
    progress bar with the latest figures; under accelerate only the main process does either. The
    log file survives resumes: lines are appended. Every rank keeps `ranks/rank-<i>.json` (its
    steps this session and peak RSS), so a multi-process run shows that each process stepped."""

    def __init__(self, out_dir: Path, keys: tuple[str, ...] = ("loss",), show: bool = True):
        self.path = out_dir / "log.jsonl"
        self.rank_dir = out_dir / "ranks"
        self.keys = keys
        self.show = show
        self.t0 = time.monotonic()
        self.start_step = 0
        self.progress = None
        self.task = None

    def on_train_begin(self, args, state, control, **kw):
        self.start_step = state.global_step
        if self.show and state.is_world_process_zero:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
            self.progress.start()
            self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

    def on_step_end(self, args, state, control, **kw):
        self.rank_dir.mkdir(parents=True, exist_ok=True)
        (self.rank_dir / f"rank-{args.process_index}.json").write_text(json.dumps({
            "rank": args.process_index, "world_size": args.world_size, "global_step": state.global_step,
            "steps_this_session": state.global_step - self.start_step, "peak_rss_mb": round(peak_rss_mb(), 1)}))
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kw):
        if not state.is_world_process_zero:
            return
        row = {"step": state.global_step, "wall_s": round(time.monotonic() - self.t0, 2),
               "peak_rss_mb": round(peak_rss_mb(), 1), **(logs or {})}
        with JsonlAppender(self.path) as log:
            log.append(row)
        if self.progress is not None:
            info = "  ".join(f"{k}={logs[k]:.4g}" for k in self.keys if isinstance((logs or {}).get(k), (int, float)))
            self.progress.update(self.task, info=info)

    def on_train_end(self, args, state, control, **kw):
        if self.progress is not None:
            self.progress.stop()


def read_log(out_dir: Path) -> list[dict[str, Any]]:
    return read_records(out_dir / "log.jsonl")


def plot_curves(out_dir: Path, keys: list[str], name: str, title: str) -> Path | None:
    """One PNG with a panel per logged key (x = optimizer step). None when nothing was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(out_dir)
    present = [k for k in keys if any(isinstance(r.get(k), (int, float)) for r in rows)]
    if not present:
        return None
    fig, axes = plt.subplots(len(present), 1, figsize=(6, 2.2 * len(present)), squeeze=False, sharex=True)
    for ax, key in zip(axes[:, 0], present):
        pts = sorted({r["step"]: r[key] for r in rows if isinstance(r.get(key), (int, float))}.items())
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".")
        ax.set_ylabel(key, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = out_dir / name
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def export_adapter_fp16(model, dest: Path) -> int:
    """Save a PEFT model's adapter with its weights cast to fp16; returns the weights file size."""
    import torch
    from safetensors.torch import load_file, save_file

    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(dest), safe_serialization=True, selected_adapters=["default"])
    weights = dest / "adapter_model.safetensors"
    tensors = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights), metadata={"format": "pt"})
    return weights.stat().st_size


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(obj) if is_dataclass(obj) else obj, indent=2, default=str) + "\n")
