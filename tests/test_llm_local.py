"""The local transformers engine on the real embedded model (few, short generations)."""
import asyncio

import pytest

from flowforge.llm import load_llm
from flowforge.llm.embedded import embedded_model_dir, find_gguf

pytestmark = [pytest.mark.model, pytest.mark.timeout(300)]


def q(i):
    return [{"role": "user", "content": f"What is {i} plus {i}?"}]


@pytest.fixture(scope="module")
def llm():
    from flowforge.llm.local import LocalLLM  # imports torch: only once a test here runs

    return LocalLLM("embedded")


def test_embedded_checkpoint_is_plain_safetensors():
    d = embedded_model_dir()
    assert find_gguf().suffix == ".gguf"
    assert (d / "model.safetensors").stat().st_size > 100e6
    assert "quantization_config" not in (d / "config.json").read_text()


async def test_real_completion(llm):
    c = await llm.complete(q(2), max_tokens=8)
    assert len(c.texts) == 1 and c.texts[0].strip()
    assert 0 < c.usage.completion_tokens <= 8 and c.usage.prompt_tokens > 10 and c.usage.seconds > 0
    assert llm.usage.calls >= 1


async def test_batched_equals_single_greedy(llm):
    single = [(await llm.complete(q(i), max_tokens=6)).texts[0] for i in range(3)]
    before = llm.engine.batches
    batched = await asyncio.gather(*(llm.complete(q(i), max_tokens=6) for i in range(3)))
    assert llm.engine.batches == before + 1  # one generate call for all three
    assert [c.texts[0] for c in batched] == single


async def test_seeded_sampling_independent_of_batch(llm):
    alone = await llm.complete(q(3), n=2, temperature=1.0, max_tokens=6, seed=11)
    mixed = await asyncio.gather(
        llm.complete(q(3), n=2, temperature=1.0, max_tokens=6, seed=11),
        llm.complete(q(4), max_tokens=3),  # different params in the same batch
    )
    assert mixed[0].texts == alone.texts
    assert mixed[1].usage.completion_tokens <= 3
    greedy = await llm.complete(q(3), n=3, max_tokens=4)
    assert len(set(greedy.texts)) == 1 and len(greedy.texts) == 3


async def test_stop_strings_truncate(llm):
    full = (await llm.complete(q(5), max_tokens=8)).texts[0]
    word = full.split()[1]
    cut = (await llm.complete(q(5), max_tokens=8, stop=[word])).texts[0]
    assert word not in cut and full.startswith(cut)


async def test_cache_hit_does_no_generation(tmp_path, llm):
    cached = load_llm("embedded@transformers", cache=tmp_path / "c.sqlite")
    a = await cached.complete(q(6), max_tokens=5)
    before = llm.engine.batches  # same memoised engine
    b = await cached.complete(q(6), max_tokens=5)
    assert b.texts == a.texts and llm.engine.batches == before and b.usage.cached_calls == 1


async def test_adapter_spec_loads_and_zero_lora_matches_base(tmp_path, llm):
    """A freshly initialised LoRA (B = 0) is a no-op: `embedded+adapter:` must match `embedded`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(embedded_model_dir())
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(tmp_path / "ad")
    del base
    adapted = load_llm(f"embedded+adapter:{tmp_path / 'ad'}@transformers", cache=False)
    assert adapted.engine is not llm.engine
    a = await adapted.complete(q(7), max_tokens=5)
    b = await llm.complete(q(7), max_tokens=5)
    assert a.texts == b.texts
    same = load_llm(f"hf:{embedded_model_dir()}@transformers", cache=False)
    assert same.engine is llm.engine  # memoised per resolved path
