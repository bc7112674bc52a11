"""Two-process training under `accelerate launch` on CPU (gloo), with configs/accelerate/cpu_ddp.yaml,
through the real CLI on the tiny random Llama: `train sft` and `train rl` step on both ranks, the
saved adapter loads, and rerunning with more steps resumes from the newest checkpoint."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_training_rl import BAD, TASK, WF, _cfg
from test_training_sft import WORKFLOW, _data

ROOT = Path(__file__).resolve().parents[1]
CPU_DDP = ROOT / "configs" / "accelerate" / "cpu_ddp.yaml"

# over 2 min on a shared 2-core machine (four Python processes import torch, transformers and TRL)
pytestmark = [pytest.mark.slow, pytest.mark.integration,
              pytest.mark.skipif(shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None,
                                 reason="accelerate launcher not installed")]


def _launch(verb: str, config: dict, tmp_path: Path, port: int) -> subprocess.CompletedProcess:
    """`accelerate launch --config_file cpu_ddp.yaml -m flowforge train VERB --config settings.yaml`."""
    settings = tmp_path / f"{verb}-settings.yaml"
    settings.write_text(yaml.safe_dump(config))
    launcher = str(Path(sys.executable).parent / "accelerate")
    cmd = [launcher, "launch", "--config_file", str(CPU_DDP), "--main_process_port", str(port),
           "-m", "flowforge", "train", verb, "--config", str(settings)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=1200, env=env)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-5000:])
    return r


def _ranks(out: Path) -> dict[int, dict]:
    return {json.loads(p.read_text())["rank"]: json.loads(p.read_text()) for p in (out / "ranks").glob("rank-*.json")}


def _loads_as_adapter(base: Path, adapter: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(adapter))
    assert any("lora_B" in n for n, _ in model.named_parameters())


@pytest.mark.timeout(1800)
def test_sft_two_processes_step_save_and_resume(tmp_path, tiny_model):
    base = tiny_model([WORKFLOW, "Task: add numbers. Operators: calculate(expression) You write workflows."] * 20)
    data = _data(tmp_path / "sft.jsonl", n=16)
    out = tmp_path / "sft"
    config = {"data": str(data), "out_dir": str(out), "base_model": str(base), "max_steps": 2, "batch_size": 4,
              "micro_batch_size": 2, "save_steps": 1, "lora_r": 4, "lora_alpha": 8, "learning_rate": 1e-2,
              "progress": False}
    _launch("sft", config, tmp_path, 29611)
    ranks = _ranks(out)
    assert set(ranks) == {0, 1} and all(r["world_size"] == 2 and r["global_step"] == 2 for r in ranks.values())
    # each step consumed batch_size examples on each of 2 ranks: 2 steps x 4 x 2 = all 16 examples once
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and state["epoch"] == pytest.approx(1.0)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2]  # written once, by the main process
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["steps"] == 2 and len(summary["sessions"]) == 1
    _loads_as_adapter(base, out / "final")

    _launch("sft", {**config, "max_steps": 3, "export": str(tmp_path / "adapter")}, tmp_path, 29612)
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["steps"] == 3 and summary["sessions"][-1]["resumed_from"].endswith("checkpoint-2")
    assert all(r["global_step"] == 3 and r["steps_this_session"] == 1 for r in _ranks(out).values())
    _loads_as_adapter(base, tmp_path / "adapter")


@pytest.mark.timeout(1800)
def test_rl_two_processes_step_save_and_resume(tmp_path, tiny_model):
    """A fresh LoRA on the random tiny model: its samples are not workflows, so every reward is
    the invalid one and the (embedded) executor is never asked; what is tested is the plumbing."""
    from flowforge.training.rl import build_prompts

    cfg = _cfg(tmp_path / "rl", sft_adapter="none", timeout_s=30.0)
    prompts = [r["prompt"] for r in build_prompts(cfg)[0]]
    tiny = tiny_model([m["content"] for p in prompts for m in p] + [WF, BAD] * 20, vocab_size=1500)
    out = tmp_path / "rl"
    config = {"out_dir": str(out), "sft_adapter": "none", "base_model": str(tiny), "tasks": [TASK],
              "operators": cfg.operators, "variants_per_task": 2, "k": 2, "num_generations": 4,
              "prompts_per_step": 1, "max_steps": 2, "max_completion_length": 48, "temperature": 0.6,
              "learning_rate": 5e-2, "save_steps": 1, "timeout_s": 30.0, "progress": False}
    _launch("rl", config, tmp_path, 29613)
    ranks = _ranks(out)
    assert set(ranks) == {0, 1} and all(r["world_size"] == 2 and r["global_step"] == 2 for r in ranks.values())
    rewards = [json.loads(line) for line in (out / "rewards.jsonl").read_text().splitlines()]
    # every step, each rank generates one group of 4 and scores its own completions
    assert len(rewards) == 2 * 2 * 4 and {r["step"] for r in rewards} == {0, 1}
    assert all(r["valid"] == 0.0 for r in rewards)  # random weights write no workflow
    assert (out / "checkpoint-2").is_dir() and (out / "rl.png").exists()
    _loads_as_adapter(tiny, out / "final")

    _launch("rl", {**config, "max_steps": 3}, tmp_path, 29614)
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["steps"] == 3 and summary["resumed_from"].endswith("checkpoint-2")
    assert all(r["global_step"] == 3 and r["steps_this_session"] == 1 for r in _ranks(out).values())
