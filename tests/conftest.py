"""Shared test fixtures. Test doubles for the LLM interface live in tests/fakes.py (`FakeLLM`);
this file builds the offline tiny model the training tests use (no hub).

Markers (pyproject.toml): `slow` (real training, full evals; `make test-slow`), `model` (the real
embedded model) and `integration` (training or converting a model, kill/resume, the CLI or
headless Chromium in a subprocess, building the wheel, sandbox runs that wait out a timeout or
start many processes, everything under tests/adversarial/). `make test-fast` leaves all three out.
"""
from __future__ import annotations

from pathlib import Path

import pytest

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIALS = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]


def build_tiny_model(out: Path, corpus: list[str], seed: int = 0, vocab_size: int = 400) -> Path:
    """Save tokenizer + random LlamaForCausalLM (hidden 32, 2 layers) under `out`; returns `out`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(corpus, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<|pad|>", eos_token="<|end|>",
                                  bos_token="<|end|>")
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
                      tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """`tiny_model(corpus, vocab_size=400)`: the directory of a tokenizer trained on `corpus` and a
    random 2-layer Llama; one build per distinct (corpus, vocab_size) in a session."""
    built: dict[tuple, Path] = {}

    def make(corpus: list[str], vocab_size: int = 400, seed: int = 0) -> Path:
        key = (tuple(corpus), vocab_size, seed)
        if key not in built:
            built[key] = build_tiny_model(tmp_path_factory.mktemp("tiny"), corpus, seed, vocab_size)
        return built[key]

    return make


def pytest_collection_modifyitems(config, items):
    """Everything under tests/adversarial/ is an integration test (the hostile corpus)."""
    for item in items:
        if "adversarial" in item.path.parts:
            item.add_marker(pytest.mark.integration)
