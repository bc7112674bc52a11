"""The CTranslate2 engine: engine choice by spec, the missing-package message, the conversion cache
(atomic, rebuilt when broken, adapters keyed by content hash) on a tiny offline model, and the
engine's batching, stop strings, usage and sampling on a tiny model and on the real embedded model."""
import asyncio
import json
import os
import subprocess
import sys

import pytest

from flowforge.errors import BackendConfigError
from flowforge.llm import load_llm, parse_spec, resolve_engine
from flowforge.llm import convert, spec

CORPUS = ["the robot counts one two three four five six seven eight nine ten", "hello world, say hi"] * 20


def q(i):
    return [{"role": "user", "content": f"What is {i} plus {i}?"}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The offline tiny Llama (tests/conftest.py) with an untied random output layer: tied random
    weights only ever repeat the prompt's last token, which hides batching and stop-string bugs."""
    import torch
    from transformers import AutoModelForCausalLM

    from conftest import build_tiny_model

    d = build_tiny_model(tmp_path_factory.mktemp("tiny"), CORPUS)
    m = AutoModelForCausalLM.from_pretrained(d)
    m.config.tie_word_embeddings = False
    torch.manual_seed(3)
    m.lm_head.weight = torch.nn.Parameter(torch.randn_like(m.lm_head.weight) * 2)
    m.save_pretrained(d)
    return d


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWFORGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _lora(base, out, seed):
    """A LoRA adapter on `base` with non-zero weights (so merging changes the model)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    m = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                       LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    m.save_pretrained(out)
    return out


# -- engine choice ------------------------------------------------------------------------------


def test_engine_choice_by_spec(tmp_path):
    assert parse_spec("embedded").engine is None
    assert resolve_engine(parse_spec("embedded")) == "ct2"  # ctranslate2 is a dependency
    assert resolve_engine(parse_spec("embedded@transformers")) == "transformers"
    s = parse_spec(f"embedded+adapter:{tmp_path}@ct2")
    assert (s.engine, s.adapter) == ("ct2", str(tmp_path.resolve()))
    s = parse_spec(f"hf:{tmp_path}@transformers")
    assert (s.kind, s.path, s.engine) == ("hf", str(tmp_path.resolve()), "transformers")
    fast, slow = load_llm("embedded", cache=False), load_llm("embedded@transformers", cache=False)
    assert (fast.engine_kind, fast.name) == ("ct2", "embedded@ct2")
    assert (slow.engine_kind, slow.name) == ("transformers", "embedded")  # cache keys as before
    with pytest.raises(BackendConfigError, match="unknown engine 'vllm'"):
        parse_spec("embedded@vllm")


def test_missing_engine_package_is_named(monkeypatch):
    monkeypatch.setattr(spec, "_installed", lambda package: package != "ctranslate2")
    with pytest.raises(BackendConfigError, match="needs the ctranslate2 package: pip install ctranslate2"):
        load_llm("embedded@ct2", cache=False)
    assert load_llm("embedded", cache=False).engine_kind == "transformers"  # the fastest one installed


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_cli_missing_engine_package_exit_2(tmp_path):
    code = "import sys; sys.modules['ctranslate2'] = None; from flowforge.cli import main; main()"
    r = subprocess.run([sys.executable, "-c", code, "complete", "hi", "--model", "embedded@ct2", "--no-cache"],
                       capture_output=True, text=True, timeout=100,
                       env={**os.environ, "FLOWFORGE_HOME": str(tmp_path), "COLUMNS": "300"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "pip install ctranslate2" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# -- conversion cache ---------------------------------------------------------------------------


def _leftovers(d):
    return [p.name for p in d.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.integration
def test_rows_are_grouped_by_prompt_length_and_temperature():
    from flowforge.llm.ct2 import CT2Engine

    def row(n, temp=0.0, max_new=48):
        return (0, [1] * n, temp, max_new, [])

    # gsm8k-like spread (62..155 prompt tokens) batches together: never one call per row
    spread = [row(n) for n in (62, 67, 69, 73, 74, 76, 81, 90, 98, 100, 104, 109, 123, 131, 155, 73)]
    calls = CT2Engine._calls(spread)
    assert len(calls) <= 3 and sorted(j for c in calls for j in c) == list(range(16))
    # one very long prompt would make every other row step through ~2000 forced tokens: cut off
    outlier = [row(60, max_new=16)] * 8 + [row(2000, max_new=16)]
    assert CT2Engine._calls(outlier) == [list(range(8)), [8]]
    # ctranslate2 takes one temperature per call
    mixed = [row(60), row(60, temp=0.7), row(61)]
    assert CT2Engine._calls(mixed) == [[0, 2], [1]]


@pytest.mark.integration
def test_conversion_cached_and_reused(tiny, home, monkeypatch):
    d = convert.ct2_model_dir(tiny)
    assert d.parent.parent == home / "models" and d.name.endswith(".ct2-int8")
    manifest = json.loads((d / convert.MANIFEST).read_text())
    assert manifest["source"] == str(tiny.resolve()) and manifest["model_bin_bytes"] == (d / "model.bin").stat().st_size
    calls = []
    monkeypatch.setattr(convert, "_convert", lambda *a: calls.append(a))
    assert convert.ct2_model_dir(tiny) == d and calls == []  # valid: not converted again
    assert _leftovers(d) == []


@pytest.mark.integration
@pytest.mark.parametrize("damage", ["delete model.bin", "truncate model.bin", "garbage manifest", "stale source"])
def test_broken_conversion_is_rebuilt(tiny, home, damage):
    d = convert.ct2_model_dir(tiny)
    good = (d / "model.bin").read_bytes()
    if damage == "delete model.bin":
        (d / "model.bin").unlink()
    elif damage == "truncate model.bin":
        (d / "model.bin").write_bytes(good[: len(good) // 2])
    elif damage == "garbage manifest":
        (d / convert.MANIFEST).write_text("{not json")
    else:  # the checkpoint was rewritten since the conversion
        m = json.loads((d / convert.MANIFEST).read_text())
        (d / convert.MANIFEST).write_text(json.dumps({**m, "weights": "0" * 16}))
    assert not convert.is_valid(d, convert._manifest(tiny.resolve(), None))
    assert convert.ct2_model_dir(tiny) == d
    assert (d / "model.bin").read_bytes() == good and _leftovers(d) == []


@pytest.mark.integration
def test_failed_conversion_leaves_nothing_half_written(tiny, home, monkeypatch):
    real = convert._convert

    def crash(base, adapter, out):
        out.mkdir(parents=True)
        (out / "model.bin").write_bytes(b"partial")
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(convert, "_convert", crash)
    with pytest.raises(RuntimeError, match="mid-conversion"):
        convert.ct2_model_dir(tiny)
    target = convert._target(tiny.resolve(), None)
    assert not target.exists() and _leftovers(target) == []
    monkeypatch.setattr(convert, "_convert", real)
    assert convert.is_valid(convert.ct2_model_dir(tiny), convert._manifest(tiny.resolve(), None))


@pytest.mark.integration
def test_adapter_merge_cache_keyed_by_content_hash(tiny, home, tmp_path):
    import shutil

    a = _lora(tiny, tmp_path / "a", seed=1)
    shutil.copytree(a, tmp_path / "a_copy")
    b = _lora(tiny, tmp_path / "b", seed=2)
    da = convert.ct2_model_dir(tiny, a)
    assert convert.ct2_model_dir(tiny, tmp_path / "a_copy") == da  # same content, same conversion
    db = convert.ct2_model_dir(tiny, b)
    assert db != da and convert.adapter_sha256(b)[:16] in db.name
    assert (da / "model.bin").read_bytes() != (db / "model.bin").read_bytes()  # the adapter was merged
    assert (da / "model.bin").read_bytes() != (convert.ct2_model_dir(tiny) / "model.bin").read_bytes()


# -- the engine on the tiny model ---------------------------------------------------------------


@pytest.fixture
def tiny_llm(tiny, home):
    return load_llm(f"hf:{tiny}@ct2", cache=False)


def _ask(text):
    return [{"role": "user", "content": text}]


@pytest.mark.integration
async def test_tiny_engine_batches_stops_and_counts(tiny_llm):
    prompts = [_ask("the robot counts"), _ask("hello world, say hi and count to ten please")]
    single = [await tiny_llm.complete(p, max_tokens=12) for p in prompts]
    assert all(0 < c.usage.completion_tokens <= 12 and c.usage.prompt_tokens > 3 for c in single)
    before = tiny_llm.engine.batches
    batched = await asyncio.gather(*(tiny_llm.complete(p, max_tokens=12) for p in prompts),
                                   tiny_llm.complete(prompts[0], n=2, temperature=1.0, max_tokens=5))
    assert tiny_llm.engine.batches == before + 1  # greedy and sampled requests in one batch
    assert [c.texts for c in batched[:2]] == [c.texts for c in single]  # greedy rows do not depend on the batch
    assert len(batched[2].texts) == 2 and 0 < batched[2].usage.completion_tokens <= 10
    full = single[0].texts[0]
    assert len(full) >= 6, full
    word = full[len(full) // 2:len(full) // 2 + 2]
    cut = await tiny_llm.complete(prompts[0], max_tokens=12, stop=[word])
    assert cut.texts[0] == full[:full.find(word)]
    assert cut.usage.completion_tokens < single[0].usage.completion_tokens  # the row ended at the stop
    short = await tiny_llm.complete(prompts[1], max_tokens=3, n=3)
    assert short.usage.completion_tokens <= 9 and len(set(short.texts)) == 1 and len(short.texts) == 3
    assert tiny_llm.usage.calls == 7


# -- the real embedded model --------------------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    return load_llm("embedded", cache=False)


@pytest.mark.model
@pytest.mark.timeout(600)
async def test_real_ct2_completion_batching_stop_and_usage(real):
    c = await real.complete(q(2), max_tokens=8)
    assert c.texts[0].strip() and 0 < c.usage.completion_tokens <= 8 and c.usage.prompt_tokens > 10
    single = [(await real.complete(q(i), max_tokens=6)).texts[0] for i in range(3)]
    before = real.engine.batches
    batched = await asyncio.gather(*(real.complete(q(i), max_tokens=6) for i in range(3)))
    assert real.engine.batches == before + 1 and [b.texts[0] for b in batched] == single
    full = (await real.complete(q(5), max_tokens=8)).texts[0]
    word = full.split()[1]
    cut = await real.complete(q(5), max_tokens=8, stop=[word])
    assert word not in cut.texts[0] and full.startswith(cut.texts[0])
    s = await real.complete(q(3), n=3, temperature=1.0, max_tokens=6, seed=11)
    assert len(s.texts) == 3 and 3 <= s.usage.completion_tokens <= 18


@pytest.mark.model
@pytest.mark.timeout(600)
async def test_real_ct2_cache_and_constrained_requests_on_transformers(tmp_path, real):
    from flowforge.generator.constrain import OpsConstraint, OpSignature
    from flowforge.llm.local import Engine

    cached = load_llm("embedded", cache=tmp_path / "c.sqlite")
    a = await cached.complete(q(6), max_tokens=5)
    before = cached.inner.engine.batches
    b = await cached.complete(q(6), max_tokens=5)
    assert b.texts == a.texts and cached.inner.engine.batches == before and b.usage.cached_calls == 1
    con = OpsConstraint((OpSignature("add", ("x", "y"), ("x", "y")),))
    msg = [{"role": "user", "content": "Write one line of Python that calls ops.add on 1 and 2."}]
    c = await real.complete(msg, max_tokens=24, constraint=con)
    assert isinstance(real._masking, Engine) and real._masking is not real.engine
    assert con.advance(con.initial, c.texts[0]) is not None  # the text keeps the operator-call rules


@pytest.mark.model
@pytest.mark.timeout(900)
async def test_real_zero_lora_adapter_on_ct2_matches_base(tmp_path, real):
    """A fresh LoRA (B = 0) merges to the base weights, so its conversion generates the same text."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from flowforge.llm.embedded import embedded_model_dir

    torch.manual_seed(0)  # the same adapter bytes every run: one cached conversion under $FLOWFORGE_HOME
    base = AutoModelForCausalLM.from_pretrained(embedded_model_dir())
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(tmp_path / "ad")
    del base
    adapted = load_llm(f"embedded+adapter:{tmp_path / 'ad'}", cache=False)
    assert adapted.engine_kind == "ct2" and adapted.engine is not real.engine
    assert convert.adapter_sha256(tmp_path / "ad")[:16] in adapted.engine.model_dir.name
    assert (await adapted.complete(q(7), max_tokens=5)).texts == (await real.complete(q(7), max_tokens=5)).texts
