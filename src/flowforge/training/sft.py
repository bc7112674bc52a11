"""Stage 1: supervised fine-tuning of the generator on synthetic workflows (TRL SFTTrainer + LoRA).

    flowforge train synth --out runs/synth                  # make the data first
    flowforge train sft --data runs/synth/sft.jsonl --out runs/sft \
        --export src/flowforge/adapters/metaflow-sft        # LoRA on the embedded model, CPU

The data are prompt-completion pairs (generator chat messages -> one workflow code block), so the
loss is on the completion only. Batches are padded to their longest member and grouped by length,
so no compute goes to padding. Rerunning into the same `--out` resumes from the newest
checkpoint. The run dir holds `flowforge_config.json`, `log.jsonl` (loss, wall time, peak RSS),
`loss.png`, `run_summary.json` and the trainer checkpoints; `--export` writes the adapter in fp16
plus a model card.

Departures from MetaFlow: the paper fine-tunes a 7-8B model on workflows found by search over
many executors; here a 135M model gets LoRA on template-sampled workflows ranked by the
embedded executor (see `training/synth.py`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from flowforge.errors import DataError
from flowforge.tasks.jsonl import parse_jsonl
from flowforge.training.config import SFTRunConfig
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


def load_sft_rows(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Conversational prompt-completion rows; every malformed line is a DataError naming it."""
    rows = []
    for lineno, row in parse_jsonl(path):
        prompt, completion = row.get("prompt"), row.get("completion")
        if not (isinstance(prompt, list) and prompt and all(isinstance(m, dict) and "role" in m for m in prompt)):
            raise DataError(f"{path}:{lineno}: field 'prompt' must be a list of chat messages")
        if not isinstance(completion, str) or not completion.strip():
            raise DataError(f"{path}:{lineno}: field 'completion' must be a non-empty string")
        rows.append({"prompt": prompt, "completion": [{"role": "assistant", "content": completion}]})
        if limit and len(rows) >= limit:
            break
    if not rows:
        raise DataError(f"{path}: no SFT examples")
    return rows


def train_sft(cfg: SFTRunConfig) -> dict[str, Any]:
    """Train (or resume), plot, optionally export. Returns the run summary (also run_summary.json)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    t0 = time.monotonic()
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, cfg.out_dir)
    # 1. data and model
    rows = load_sft_rows(cfg.data, cfg.max_examples)
    model, tok, peft_config, base_path = load_trainable(
        cfg.base_model, cfg.init_adapter, lora_config(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_targets))
    # 2. trainer: prompt-completion => loss on completion only; pad to longest, group by length
    args = SFTConfig(
        output_dir=str(cfg.out_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=cfg.batch_size // cfg.micro_batch_size, learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine", warmup_steps=0.05, max_length=cfg.max_length, truncation_mode="keep_start",
        completion_only_loss=True, train_sampling_strategy="group_by_length",
        bf16=bf16_on_gpu(), gradient_checkpointing=False, use_cpu=not on_gpu(), dataloader_num_workers=0,
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps, report_to="none", seed=cfg.seed, disable_tqdm=True,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         peft_config=peft_config,
                         callbacks=[RunLogCallback(cfg.out_dir, ("loss", "learning_rate"), show=cfg.progress)])
    resume = last_checkpoint(cfg.out_dir)
    # 3. train (resuming when a checkpoint exists), then save the final adapter
    result = train_or_load_finished(trainer, resume, cfg.max_steps)
    trainer.save_model(str(cfg.out_dir / "final"))
    if not trainer.is_world_process_zero():  # under accelerate, the main process writes the rest
        return _summary(cfg, trainer, result, rows, base_path, resume, time.monotonic() - t0)
    plot_curves(cfg.out_dir, ["loss", "learning_rate"], "loss.png", f"SFT on {cfg.data.name}")
    summary = _summary(cfg, trainer, result, rows, base_path, resume, time.monotonic() - t0)
    # 4. export (fp16 adapter + model card)
    if cfg.export:
        size = export_adapter_fp16(trainer.model, cfg.export)
        summary["adapter_bytes"] = size
        write_model_card(cfg.export, summary)
    write_json(cfg.out_dir / "run_summary.json", summary)
    return summary


def _summary(cfg, trainer, result, rows, base_path, resume, wall_s) -> dict[str, Any]:
    prev = {}
    if (cfg.out_dir / "run_summary.json").exists():
        prev = json.loads((cfg.out_dir / "run_summary.json").read_text())
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    sessions = prev.get("sessions", []) + [{"wall_s": round(wall_s, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
                                            "resumed_from": resume}]
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {
        "stage": "sft", "data": str(cfg.data), "examples": len(rows), "base_model": base_path,
        "init_adapter": str(cfg.init_adapter) if cfg.init_adapter else None,
        "steps": trainer.state.global_step, "epochs": round(trainer.state.epoch or 0, 3),
        "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
        "train_loss": result.training_loss if result else prev.get("train_loss"), "trainable_params": trainable,
        # a session killed before its summary (then resumed) is known only from log.jsonl
        "wall_s_total": round(max(sum(s["wall_s"] for s in sessions), logged_wall_s(cfg.out_dir)), 1),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in sessions + logged(cfg.out_dir)), "sessions": sessions,
        "config": config_dict(cfg),
    }


def logged(out_dir: Path) -> list[dict[str, Any]]:
    """log.jsonl's lines that carry wall time (every training session appends to it)."""
    from flowforge.store import read_records

    lines = read_records(out_dir / "log.jsonl")  # a torn last line (a killed session) is skipped
    return [x for x in lines if "wall_s" in x and "peak_rss_mb" in x]


def logged_wall_s(out_dir: Path) -> float:
    """Training wall time summed over the sessions in log.jsonl (a session's clock restarts at 0)."""
    total, last = 0.0, 0.0
    for x in logged(out_dir):
        if x["wall_s"] < last:
            total += last
        last = x["wall_s"]
    return total + last


MEASURED_START = "<!-- measured by `flowforge train sft --export`; regenerated on every export, edit outside -->"
MEASURED_END = "<!-- end of the measured section -->"


def write_model_card(dest: Path, summary: dict[str, Any]) -> None:
    """README.md next to the adapter. Only the section between MEASURED_START and MEASURED_END is
    (re)generated from this run; the rest of an existing card, written by hand, is kept. A new card
    gets a short header and limits around the measured section."""
    path = dest / "README.md"
    measured = "\n".join([MEASURED_START, *_measured_lines(dest, summary), MEASURED_END])
    old = path.read_text() if path.exists() else ""
    if MEASURED_START in old and MEASURED_END in old:
        head, rest = old.split(MEASURED_START, 1)
        text = head + measured + rest.split(MEASURED_END, 1)[1]
    elif old:
        text = old.rstrip("\n") + "\n\n" + measured + "\n"
    else:
        text = "\n".join([
            "---", "library_name: peft", "base_model: HuggingFaceTB/SmolLM2-135M-Instruct", "tags: [flowforge, metaflow, lora, sft]", "---",
            "# metaflow-sft: flowforge workflow generator (stage 1, SFT)", "",
            "LoRA adapter for SmolLM2-135M-Instruct (flowforge's `embedded` model) that writes one",
            "`async def solve(problem, ops)` workflow for a task description and an operator set.",
            "Load it with the generator spec `embedded+adapter:<this dir>` (the default of `flowforge generate`).", "",
            measured, "",
            "## Limits",
            "- Trained only on template-derived workflows; it imitates those strategies rather than inventing new ones.",
            "- The embedded executor is very weak, so scores used for ranking the training workflows are noisy.", ""])
    path.write_text(text)


def _measured_lines(dest: Path, summary: dict[str, Any]) -> list[str]:
    """The card's figures from this run: its data, settings, loss, time, memory and size."""
    meta_path = Path(summary["data"]).with_name("synth_summary.json")
    synth = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    cfg = summary["config"]
    lines = ["## Training (measured)",
             f"- {summary['examples']} prompt-completion pairs from `flowforge train synth` ({summary['data']})."]
    if synth:
        lines += [f"- synth: {synth.get('candidates_run', '?')} candidate workflows executed on "
                  f"K={synth.get('k', '?')} training instances each with executor `{synth.get('executor', '?')}`; "
                  f"{synth.get('tasks', '?')} training tasks; selection: top {synth.get('top_m', '?')} per task."]
    if summary.get("init_adapter"):
        lines.append(f"- Continued from the adapter in {summary['init_adapter']} (its LoRA settings).")
    lines += [
        f"- LoRA r={cfg['lora_r']}, alpha={cfg['lora_alpha']}, dropout={cfg['lora_dropout']}, targets={cfg['lora_targets']}; "
        f"lr {cfg['learning_rate']} cosine; batch {cfg['batch_size']}; max length {cfg['max_length']}.",
        f"- {summary['steps']} optimizer steps ({summary['epochs']} epochs), loss {summary['first_loss']:.4g} -> "
        f"{summary['final_loss']:.4g}" + (f" (mean {summary['train_loss']:.4g})." if summary["train_loss"] is not None
                                         else ".") if summary["first_loss"] is not None else
        f"- {summary['steps']} optimizer steps.",
        f"- Wall time {summary['wall_s_total']:.0f} s, peak RSS {summary['peak_rss_mb']:.0f} MB (CPU, fp32 training).",
        f"- Adapter stored in fp16: {summary.get('adapter_bytes', 0) / 1e6:.1f} MB; {summary['trainable_params']} trainable parameters.",
        "- Command: `flowforge train sft "
        f"--data {summary['data']} --out {cfg['out_dir']} --max-steps {cfg['max_steps']} --epochs {cfg['epochs']} "
        f"--lr {cfg['learning_rate']} --batch-size {cfg['batch_size']} "
        f"--micro-batch-size {cfg.get('micro_batch_size', cfg['batch_size'])} --seed {cfg['seed']}"
        + (f" --init-adapter {summary['init_adapter']}" if summary.get("init_adapter") else "") + f" --export {dest}`",
    ]
    return lines
