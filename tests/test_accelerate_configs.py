"""The accelerate configs in configs/accelerate/ load with accelerate's own parser (which refuses
unknown keys) and say what their README says; GRPO's vLLM settings reach TRL's GRPOConfig."""
from __future__ import annotations

from pathlib import Path

import pytest

from flowforge.errors import UserError

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "accelerate"


def _load(name: str):
    from accelerate.commands.config.config_args import load_config_from_file

    return load_config_from_file(str(CONFIGS / f"{name}.yaml"))


def test_every_config_is_documented_and_parses():
    names = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    assert names == ["cpu_ddp", "deepspeed_zero2", "deepspeed_zero3", "fsdp", "grpo_vllm_server"]
    readme = (CONFIGS / "README.md").read_text()
    for name in names:
        assert f"`{name}.yaml`" in readme
        assert _load(name).num_machines == 1


def test_cpu_ddp_is_two_gloo_processes_on_cpu():
    from accelerate.utils import DistributedType

    c = _load("cpu_ddp")
    # torchrun launcher (MULTI_GPU) with every rank kept on the CPU: torch.distributed uses gloo
    assert (c.distributed_type, c.num_processes, c.use_cpu, c.mixed_precision) == (DistributedType.MULTI_GPU, 2,
                                                                                    True, "no")


@pytest.mark.parametrize("name,stage,processes,gpus", [("deepspeed_zero2", 2, 8, None),
                                                        ("deepspeed_zero3", 3, 8, None),
                                                        ("grpo_vllm_server", 2, 7, "1,2,3,4,5,6,7")])
def test_deepspeed_configs(name, stage, processes, gpus):
    from accelerate.utils import DistributedType

    c = _load(name)
    assert c.distributed_type == DistributedType.DEEPSPEED and c.deepspeed_config["zero_stage"] == stage
    assert (c.num_processes, c.gpu_ids, c.mixed_precision, c.use_cpu) == (processes, gpus, "bf16", False)
    assert c.deepspeed_config["gradient_accumulation_steps"] == "auto"  # taken from flowforge's settings
    assert c.deepspeed_config["zero3_init_flag"] is (stage == 3)


def test_fsdp_config():
    from accelerate.utils import DistributedType

    c = _load("fsdp")
    assert c.distributed_type == DistributedType.FSDP and c.num_processes == 8 and c.mixed_precision == "bf16"
    assert c.fsdp_config["fsdp_version"] == 2 and c.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert c.fsdp_config["fsdp_state_dict_type"] == "SHARDED_STATE_DICT"


@pytest.mark.integration
def test_grpo_config_carries_vllm_server_mode_and_batching(tmp_path):
    from flowforge.training.config import RLRunConfig
    from flowforge.training.rl import grpo_config

    cfg = RLRunConfig(out_dir=tmp_path, sft_adapter="none", use_vllm=True, constrained=False, vllm_mode="server",
                      vllm_server_base_url="http://gpu0:8000", num_generations=8, prompts_per_step=2,
                      micro_batch_size=4)
    args = grpo_config(cfg)
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_base_url) == (True, "server", "http://gpu0:8000")
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps, args.num_generations) == (4, 4, 8)
    assert args.use_cpu  # no GPU here: training stays on the CPU
    colocate = grpo_config(RLRunConfig(out_dir=tmp_path, sft_adapter="none", use_vllm=True, constrained=False))
    assert colocate.vllm_mode == "colocate"
    with pytest.raises(UserError, match="--vllm-mode must be colocate or server"):
        RLRunConfig(out_dir=tmp_path, sft_adapter="none", vllm_mode="remote")
