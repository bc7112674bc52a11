"""The train commands' options come from the config dataclasses: every field has a flag, a YAML
file given with --config sets fields, flags given override it, and bad values name the flag."""
from __future__ import annotations

import dataclasses
import inspect

import pytest
import typer
from typer.testing import CliRunner

from flowforge.config_cli import config_command, flag
from flowforge.errors import UserError
from flowforge.training.config import RLRunConfig, SFTRunConfig, SynthConfig


def captured(cls, argv: list[str], **aliases):
    """The config a command built from `cls` passes to its run function for `argv`."""
    app, got = typer.Typer(), []
    config_command(app, "go", cls, got.append, help="test", aliases=aliases)
    app.command("other")(lambda: None)  # two commands, so `go` is a subcommand as in `flowforge train`
    res = CliRunner().invoke(app, ["go", *argv], standalone_mode=False)
    if res.exception:
        raise res.exception
    return got[0]


@pytest.mark.parametrize("cls", [SynthConfig, SFTRunConfig, RLRunConfig])
def test_every_config_field_has_a_flag(cls):
    from flowforge.cli import train_app

    name = {SynthConfig: "synth", SFTRunConfig: "sft", RLRunConfig: "rl"}[cls]
    cmd = next(c for c in train_app.registered_commands if c.name == name)
    params = inspect.signature(cmd.callback).parameters
    assert {f.name for f in dataclasses.fields(cls) if f.init} | {"config"} == set(params)


def test_rl_settings_from_flags_yaml_and_defaults(tmp_path):
    yaml_file = tmp_path / "rl.yaml"
    yaml_file.write_text("temperature: 0.7\nweight-score: 2.0\nvariants_per_task: 5\ntasks: [gsm8k, math]\nk: 4\n")
    cfg = captured(RLRunConfig, ["--config", str(yaml_file), "--k", "6", "--no-progress", "--sft-adapter", "none",
                                 "--out-dir", str(tmp_path / "rl")])
    assert (cfg.temperature, cfg.weight_score, cfg.variants_per_task) == (0.7, 2.0, 5)  # from the file
    assert cfg.tasks == ["gsm8k", "math"] and cfg.k == 6 and cfg.progress is False  # flags win
    assert cfg.beta == RLRunConfig.beta and cfg.out_dir == tmp_path / "rl"  # defaults otherwise


def test_aliases_lists_and_type_errors(tmp_path):
    cfg = captured(SynthConfig, ["--out", str(tmp_path), "--tasks", "gsm8k, math", "--candidates", "3"],
                   out_dir=("--out",), candidates_per_task=("--candidates",))
    assert cfg.out_dir == tmp_path and cfg.tasks == ["gsm8k", "math"] and cfg.candidates_per_task == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("k: three\n")
    with pytest.raises(UserError, match=r"--config .*bad\.yaml: k: expected int, got 'three'"):
        captured(SynthConfig, ["--config", str(bad)])
    bad.write_text("- k\n")
    with pytest.raises(UserError, match="expected a mapping"):
        captured(SynthConfig, ["--config", str(bad)])
    bad.write_text("top_n: 3\n")
    with pytest.raises(UserError, match="unknown setting 'top_n'; did you mean 'top_m'"):
        captured(SynthConfig, ["--config", str(bad)])


def test_flag_names_match_validation_messages():
    assert flag("max_heavy_per_task") == "--max-heavy-per-task"
    with pytest.raises(UserError, match="--candidates-per-task must be >= 1"):
        SynthConfig(candidates_per_task=0)


def test_rl_samples_constrained_by_default_and_vllm_asks_to_opt_out(tmp_path):
    cfg = captured(RLRunConfig, ["--sft-adapter", "none", "--out-dir", str(tmp_path / "rl")])
    assert cfg.constrained is True
    off = captured(RLRunConfig, ["--sft-adapter", "none", "--no-constrained", "--use-vllm", "--out-dir", str(tmp_path / "rl")])
    assert (off.constrained, off.use_vllm) == (False, True)
    with pytest.raises(UserError, match="--use-vllm .* add --no-constrained"):
        RLRunConfig(sft_adapter="none", use_vllm=True)
