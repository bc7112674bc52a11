"""GRPO smoke test (tiny random Llama, FakeLLM executor) and the reward adapter's contract."""
import asyncio
import json

import pytest

from fakes import FakeLLM

WF = "```python\nasync def solve(problem, ops):\n    return await ops.calculate(expression=problem)\n```"
TASK = "synth/arith_word"


def _recording_run():
    from flowforge.workflow.runtime import run_workflow_on_instances

    calls = []

    async def run(source, task, instances, **kw):
        calls.append({"source": source, "task": task.name, "ids": tuple(i.id for i in instances),
                      "timeout_s": kw.get("timeout_s")})
        return await run_workflow_on_instances(source, task, instances, **kw)

    return run, calls


def test_reward_parts_group_shared_instances_and_dedupe():
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task
    from flowforge.training.reward import WorkflowReward

    task, opset = get_task(TASK), load_operator_set("default")
    run, calls = _recording_run()
    reward = WorkflowReward(FakeLLM(lambda m: "Answer: 7"), {"v": (task, opset)}, k=2, seed=0, run=run)
    other = "```python\nasync def solve(problem, ops):\n    r = await ops.answer_generate(input=problem)\n    return r['answer']\n```"
    comps = [[{"role": "assistant", "content": c}] for c in (WF, WF, other, "import os")]
    fns = {f.__name__: f for f in reward.functions()}
    metrics = {}

    class State:
        global_step = 3

    kw = dict(prompts=[None] * 4, completions=comps, variant=["v"] * 4, trainer_state=State(),
              log_metric=lambda k, v: metrics.__setitem__(k, v))
    valid, score, executes = fns["valid"](**kw), fns["score"](**kw), fns["executes"](**kw)
    assert valid == [1.0, 1.0, 1.0, 0.0]
    assert score[3] == 0.0 and executes[3] == 0.0 and score[0] == score[1]
    assert all(0.0 <= s <= 1.0 for s in score)
    assert len(calls) == 2  # identical workflows ran once; parts computed once for all 4 functions
    assert len({c["ids"] for c in calls}) == 1 and len(calls[0]["ids"]) == 2  # group-shared instances
    assert metrics["reward/valid_rate"] == 0.75
    # another step draws other instances
    State.global_step = 4
    fns["score"](**kw)
    assert calls[-1]["ids"] != calls[0]["ids"]


def test_a_do_nothing_workflow_earns_no_reward_by_default():
    """`return problem` is valid and free: with the default weights it earns 0, while a workflow that
    scores earns its score, whatever its cost."""
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task
    from flowforge.training.config import RLRunConfig
    from flowforge.training.reward import PART_NAMES, WorkflowReward
    from flowforge.training.rl import reward_weights

    task, opset = get_task(TASK), load_operator_set("default")
    reward = WorkflowReward(FakeLLM(lambda m: "Answer: 7"), {"v": (task, opset)}, k=4, seed=0)
    nothing = "```python\nasync def solve(problem, ops):\n    return problem\n```"
    asks = "```python\nasync def solve(problem, ops):\n    r = await ops.answer_generate(input=problem)\n    return r['answer']\n```"
    comps = [[{"role": "assistant", "content": c}] for c in (nothing, asks)]
    kw = dict(prompts=[None] * 2, completions=comps, variant=["v"] * 2, log_metric=lambda k, v: None)
    fns = {f.__name__: f for f in reward.functions()}
    parts = {p: fns[p](**kw) for p in PART_NAMES}
    assert parts["valid"] == [1.0, 1.0] and parts["cost"][0] == 0.0 and parts["cost"][1] < 0
    total = [sum(w * parts[p][i] for w, p in zip(reward_weights(RLRunConfig()), PART_NAMES)) for i in range(2)]
    assert total[0] == 0.0 and total[1] == parts["score"][1]
    assert RLRunConfig().k >= 4
    logged = reward.parts([c for c in comps], ["v", "v"], step=0)
    assert [(p.calls, p.composition) for p in logged] == [(0.0, ""), (1.0, "answer_generate")]


BAD = "```python\nimport os\n```"


def _cfg(out, **kw):
    """Tiny GRPO run; a 3-operator set keeps prompts short (CPU time goes with prompt length)."""
    from flowforge.training.rl import RLRunConfig

    ops = out.parent / "tiny_ops.yaml"
    ops.write_text("name: tiny\nextends: default\ninclude: [answer_generate, calculate, extract]\n")
    return RLRunConfig(out_dir=out, tasks=[TASK], operators=str(ops), variants_per_task=2, k=2, num_generations=4, prompts_per_step=1,
                       max_steps=2, max_completion_length=48, temperature=0.6, learning_rate=5e-2, save_steps=1,
                       progress=False, **kw)


def _memorise(model_dir, prompts, completions, steps=150):
    """Full fine-tune the tiny random model on (prompt, completion) chats so sampling yields them."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    texts = [tok.apply_chat_template(p + [{"role": "assistant", "content": c}], tokenize=False)
             for p in prompts for c in completions]
    batch = tok(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    for i, text in enumerate(texts):  # loss on the completion only
        n_prompt = len(tok(tok.apply_chat_template(prompts[i // len(completions)], tokenize=False,
                                                   add_generation_prompt=True))["input_ids"])
        labels[i, :n_prompt] = -100
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(model_dir)
    return float(loss)


@pytest.fixture(scope="module")
def sft_adapter(tmp_path_factory, tiny_model):
    """A tiny random Llama taught to answer the RL prompts with a valid or an invalid workflow (half
    each, so a GRPO group has reward spread), then a short SFT run gives the starting adapter."""
    from flowforge.training.rl import build_prompts
    from flowforge.training.sft import SFTRunConfig, train_sft

    root = tmp_path_factory.mktemp("rl")
    prompts = [r["prompt"] for r in build_prompts(_cfg(root / "x"))[0]]
    corpus = [m["content"] for p in prompts for m in p] + [WF, BAD] * 20
    tiny = tiny_model(corpus, vocab_size=1500)
    assert _memorise(tiny, prompts, [WF, BAD]) < 0.8  # ~ln 2 at the valid/invalid fork
    data = root / "sft.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "completion": c}) + "\n" for p in prompts for c in (WF, BAD)))
    train_sft(SFTRunConfig(data=data, out_dir=root / "sft", base_model=str(tiny), max_steps=2, batch_size=4,
                           learning_rate=1e-3, lora_r=8, lora_alpha=16, save_steps=100, export=root / "adapter",
                           progress=False))
    return tiny, root / "adapter"


@pytest.mark.integration
def test_grpo_two_steps_changes_params_and_shares_instances(tmp_path, sft_adapter):
    import torch
    from safetensors.torch import load_file

    from flowforge.training.rl import train_rl

    tiny, adapter = sft_adapter
    run, calls = _recording_run()
    cfg = _cfg(tmp_path / "rl", sft_adapter=adapter, base_model=str(tiny), timeout_s=30.0)
    summary = train_rl(cfg, executor=FakeLLM(lambda m: "Answer: 3"), reward_run=run)
    assert summary["steps"] == 2 and (tmp_path / "rl" / "checkpoint-2").is_dir()
    rewards = [json.loads(line) for line in (tmp_path / "rl" / "rewards.jsonl").read_text().splitlines()]
    assert {r["step"] for r in rewards} == {0, 1} and len(rewards) == 8
    assert calls, "no sampled workflow was valid, so nothing was executed"
    assert {c["timeout_s"] for c in calls} == {30.0}  # the reward's own per-instance limit
    by_step = {}
    for r, c in zip([r for r in rewards if r["valid"]], calls):
        by_step.setdefault(r["step"], set()).add(c["ids"])
    assert all(len(ids) == 1 for ids in by_step.values())  # one instance set per group
    start = load_file(str(adapter / "adapter_model.safetensors"))
    end = load_file(str(tmp_path / "rl" / "final" / "adapter_model.safetensors"))
    changed = [k for k in start if not torch.allclose(start[k].float(), end[k].float(), atol=1e-4)]
    assert changed, "GRPO did not change any LoRA parameter"
    log = [json.loads(line) for line in (tmp_path / "rl" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "time/reward_s" in r and "kl" in r]
    assert len(steps) == 2  # one split of the step time per optimizer step
    assert all(r["time/generation_s"] > 0 and r["time/reward_s"] > 0 and r["time/update_s"] > 0 for r in steps)
    assert (tmp_path / "rl" / "rl.png").exists()


def test_step_times_split_a_step_into_generation_reward_and_update():
    """The callback reads the step's begin/end and the reward's timeline; it adds the split to
    the step's log line and leaves other log lines alone."""
    import time

    from flowforge.training.rl import StepTimes

    class Reward:
        timeline: list = []

    timer = StepTimes(Reward())
    timer.on_step_begin(None, None, None)
    t0 = timer.t0
    Reward.timeline += [(t0 - 5.0, t0 - 4.0), (t0 + 0.2, t0 + 0.5), (t0 + 0.6, t0 + 0.7)]  # the first is an earlier step's
    time.sleep(0.9)
    timer.on_step_end(None, None, None)
    logs, other = {"reward": 0.5, "kl": 0.1}, {"train_runtime": 3.0}
    timer.on_log(None, None, None, logs=logs)
    timer.on_log(None, None, None, logs=other)
    assert logs["time/generation_s"] == pytest.approx(0.2, abs=1e-3)
    assert logs["time/reward_s"] == pytest.approx(0.4, abs=1e-3)
    assert logs["time/update_s"] == pytest.approx(0.3, abs=0.1)
    assert other == {"train_runtime": 3.0}


@pytest.mark.integration
def test_constrained_rollout_samples_only_offered_operators(sft_adapter):
    """On a renamed operator set, the policy sampled plainly writes the operator it was taught
    (`ops.calculate`, not offered); the constrained rollout, like `flowforge generate`, samples
    only the set's own names. Its output is TRL's rollout contract: prompt ids, completions that
    end at EOS, one per prompt entry."""
    import re
    from types import SimpleNamespace

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from flowforge.generator.prompt import WORKFLOW
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task
    from flowforge.training.rollout import ConstrainedRollout

    tiny, adapter = sft_adapter
    tok = AutoTokenizer.from_pretrained(tiny)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), adapter)
    task = get_task(TASK)
    base = load_operator_set(str(adapter.parent / "tiny_ops.yaml"))
    renamed = base.renamed({"calculate": "evaluate"}, name="tiny-renamed")
    prompt = WORKFLOW.messages(task.description, task.answer_format, renamed)
    rollout = ConstrainedRollout([{"prompt": prompt, "variant": "v"}], {"v": (task, renamed)}, tok,
                                 temperature=1.0, max_new_tokens=48, seed=0)
    trainer = SimpleNamespace(state=SimpleNamespace(global_step=0), model=model,
                              accelerator=SimpleNamespace(unwrap_model=lambda m: m))
    out = rollout([prompt] * 6, trainer)
    assert set(out) == {"prompt_ids", "completion_ids", "logprobs"} and len(out["completion_ids"]) == 6
    assert out["prompt_ids"][0] == rollout.prompt_ids(prompt)
    assert all(tok.eos_token_id not in ids[:-1] for ids in out["completion_ids"])
    offered = {op.name for op in renamed.operators}
    called = [set(re.findall(r"ops\.(\w+)", tok.decode(ids, skip_special_tokens=True))) for ids in out["completion_ids"]]
    texts = [tok.decode(ids, skip_special_tokens=True) for ids in out["completion_ids"]]
    assert any(called) and all(names <= offered for names in called), texts
    ids = torch.tensor([out["prompt_ids"][0]] * 6)
    torch.manual_seed(0)
    plain = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, max_new_tokens=48)
    plain_calls = set(re.findall(r"ops\.(\w+)", " ".join(tok.batch_decode(plain[:, ids.shape[1]:]))))
    assert "calculate" in plain_calls  # without the constraint the taught name comes back
