"""SFT smoke test on a tiny random Llama (offline): trains, checkpoints, resumes, exports fp16."""
import json

import pytest

from flowforge.errors import DataError, UserError

WORKFLOW = "```python\nasync def solve(problem, ops):\n    r = await ops.calculate(expression=problem)\n    return r\n```"


def _data(path, n=8):
    rows = []
    for i in range(n):
        prompt = [{"role": "system", "content": "You write workflows."},
                  {"role": "user", "content": f"Task: add numbers {i}. Operators: calculate(expression)"}]
        rows.append({"prompt": prompt, "completion": WORKFLOW, "meta": {"task": "synth/x"}})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny(tiny_model):
    return tiny_model([WORKFLOW, "Task: add numbers. Operators: calculate(expression) You write workflows."] * 20)


@pytest.mark.integration
def test_sft_trains_checkpoints_resumes_and_exports(tmp_path, tiny):
    from safetensors import safe_open

    from flowforge.training.sft import SFTRunConfig, train_sft

    data = _data(tmp_path / "sft.jsonl")
    out, export = tmp_path / "run", tmp_path / "adapter"
    common = dict(data=data, out_dir=out, base_model=str(tiny), batch_size=4, save_steps=2, learning_rate=1e-2,
                  lora_r=4, lora_alpha=8, progress=False)
    s1 = train_sft(SFTRunConfig(max_steps=2, **common))
    assert s1["steps"] == 2 and (out / "checkpoint-2").is_dir()
    assert (out / "flowforge_config.json").exists() and (out / "loss.png").stat().st_size > 0

    s2 = train_sft(SFTRunConfig(max_steps=4, export=export, **common))
    assert s2["steps"] == 4
    assert s2["sessions"][-1]["resumed_from"].endswith("checkpoint-2")
    assert len(s2["sessions"]) == 2 and s2["peak_rss_mb"] > 0
    # LoRA B starts at zero: non-zero B means the adapter actually learned something
    with safe_open(str(export / "adapter_model.safetensors"), "pt") as f:
        bs = [f.get_tensor(k) for k in f.keys() if "lora_B" in k]
        assert bs and all(t.dtype.is_floating_point and t.element_size() == 2 for t in bs)  # fp16
        assert any(t.abs().sum() > 0 for t in bs)
    card = (export / "README.md").read_text()
    assert "4 optimizer steps" in card

    # rerunning a finished run re-exports the same weights without training another step
    export2 = tmp_path / "adapter2"
    s3 = train_sft(SFTRunConfig(max_steps=4, export=export2, **common))
    assert s3["steps"] == 4 and not (out / "checkpoint-5").exists()
    assert s3["train_loss"] == s2["train_loss"]
    with safe_open(str(export / "adapter_model.safetensors"), "pt") as a, \
            safe_open(str(export2 / "adapter_model.safetensors"), "pt") as b:
        assert set(a.keys()) == set(b.keys())
        assert all(a.get_tensor(k).equal(b.get_tensor(k)) for k in a.keys())


@pytest.mark.integration
def test_sft_continues_from_an_init_adapter(tmp_path, tiny):
    """--init-adapter trains the given LoRA further: its rank and weights are the starting point."""
    import torch
    from safetensors.torch import load_file

    from flowforge.training.sft import SFTRunConfig, train_sft

    data = _data(tmp_path / "sft.jsonl")
    first, second = tmp_path / "first", tmp_path / "second"
    common = dict(data=data, base_model=str(tiny), batch_size=4, save_steps=10, learning_rate=1e-2, progress=False)
    train_sft(SFTRunConfig(out_dir=tmp_path / "r1", max_steps=2, lora_r=4, lora_alpha=8, export=first, **common))
    s = train_sft(SFTRunConfig(out_dir=tmp_path / "r2", max_steps=3, lora_r=16, init_adapter=first, export=second,
                               **common))
    a, b = load_file(str(first / "adapter_model.safetensors")), load_file(str(second / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    assert all(b[k].shape == a[k].shape for k in a)  # rank 4 from the adapter, not --lora-r 16
    assert any(not torch.equal(a[k], b[k]) for k in a)  # and trained further
    assert s["init_adapter"] == str(first)
    assert f"Continued from the adapter in {first}" in (second / "README.md").read_text()
    with pytest.raises(UserError, match="init-adapter"):
        SFTRunConfig(data=data, init_adapter=tmp_path / "nowhere")


def test_sft_config_names_the_fix(tmp_path):
    from flowforge.training.sft import SFTRunConfig

    with pytest.raises(UserError, match="flowforge train synth"):
        SFTRunConfig(data=tmp_path / "missing.jsonl")
    data = _data(tmp_path / "d.jsonl")
    with pytest.raises(UserError, match="max-length"):
        SFTRunConfig(data=data, max_length=8)


def test_sft_rows_bad_line_named(tmp_path):
    from flowforge.training.sft import load_sft_rows

    p = tmp_path / "bad.jsonl"
    p.write_text('{"prompt": [{"role": "user", "content": "x"}], "completion": "y"}\n{"prompt": "oops"}\n')
    with pytest.raises(DataError, match="bad.jsonl:2"):
        load_sft_rows(p)


def test_model_card_regenerates_only_the_measured_section(tmp_path):
    from flowforge.training.sft import MEASURED_END, MEASURED_START, write_model_card

    summary = {"data": str(tmp_path / "sft.jsonl"), "examples": 12, "steps": 3, "epochs": 0.5, "first_loss": 2.0,
               "final_loss": 1.0, "train_loss": 1.5, "wall_s_total": 9.0, "peak_rss_mb": 100.0, "adapter_bytes": 2e6,
               "trainable_params": 64, "config": {"lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0,
               "lora_targets": "all-linear", "learning_rate": 0.01, "batch_size": 4, "max_length": 256,
               "out_dir": "runs/sft", "max_steps": 3, "epochs": 1.0, "micro_batch_size": 2, "seed": 0}}
    write_model_card(tmp_path, summary)  # a new card: header, measured section, limits
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: peft") and "3 optimizer steps" in card and "## Limits" in card
    hand = card.replace("## Limits", "## Measured by hand\nheld-out mean 0.178\n\n## Limits")
    (tmp_path / "README.md").write_text(hand)
    write_model_card(tmp_path, {**summary, "steps": 7})  # a rerun of `--export`
    again = (tmp_path / "README.md").read_text()
    assert "held-out mean 0.178" in again and "7 optimizer steps" in again and "3 optimizer steps" not in again
    assert again.count(MEASURED_START) == again.count(MEASURED_END) == 1
    # a run killed before its summary, then re-exported: no mean loss to report, and no traceback
    write_model_card(tmp_path, {**summary, "train_loss": None})
    assert "loss 2 -> 1." in (tmp_path / "README.md").read_text()


def test_wall_time_counts_sessions_known_only_from_the_log(tmp_path):
    """A session killed before its summary still counts: log.jsonl's clock restarts at each session."""
    import json

    from flowforge.training.sft import logged_wall_s

    rows = [{"step": 1, "wall_s": 50.0, "peak_rss_mb": 1.0}, {"step": 2, "wall_s": 100.0, "peak_rss_mb": 2.0},
            {"step": 3, "wall_s": 40.0, "peak_rss_mb": 3.0}, {"step": 4, "wall_s": 90.0, "peak_rss_mb": 1.0}]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert logged_wall_s(tmp_path) == 190.0
    assert logged_wall_s(tmp_path / "missing") == 0.0
