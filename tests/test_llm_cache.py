"""The sqlite response cache: hits are free and identical, n grows incrementally, seeds split."""
import asyncio
import itertools
import multiprocessing

import pytest

from fakes import FakeLLM
from flowforge.llm.cache import CachedLLM
from flowforge.llm.sampling import sample_seed

M = [{"role": "user", "content": "count"}]


def counter():
    it = itertools.count()
    return FakeLLM(lambda m: f"sample {next(it)}")


async def test_hit_is_identical_and_free(tmp_path):
    inner = counter()
    c = CachedLLM(inner, tmp_path / "c.sqlite")
    a = await c.complete(M, n=2, temperature=0.7)
    b = await c.complete(M, n=2, temperature=0.7)
    assert a.texts == b.texts == ["sample 0", "sample 1"]
    assert len(inner.calls) == 1
    assert b.usage.cached_calls == 1 and b.usage.calls == 1
    assert b.usage.completion_tokens == a.usage.completion_tokens == 4 and b.usage.seconds < 0.1
    assert c.usage.calls == 2 and c.usage.cached_calls == 1
    # a new process (here: a new wrapper on the same file) sees the same answers
    again = CachedLLM(counter(), tmp_path / "c.sqlite")
    assert (await again.complete(M, n=2, temperature=0.7)).texts == a.texts


async def test_params_are_part_of_the_key(tmp_path):
    inner = counter()
    c = CachedLLM(inner, tmp_path / "c.sqlite")
    await c.complete(M, max_tokens=10)
    await c.complete(M, max_tokens=11)
    await c.complete(M, max_tokens=10, stop=["x"])
    await c.complete(M, max_tokens=10, temperature=0.5)
    await c.complete([{"role": "user", "content": "other"}], max_tokens=10)
    assert len(inner.calls) == 5
    c2 = CachedLLM(inner, tmp_path / "c.sqlite", key_name="another-model")
    await c2.complete(M, max_tokens=10)
    assert len(inner.calls) == 6


async def test_constraint_is_part_of_the_key_and_passed_through(tmp_path):
    from flowforge.generator.constrain import OpsConstraint, OpSignature

    def sigs(*names):
        return OpsConstraint(tuple(OpSignature(n, ("input",), ("input",)) for n in names))

    it = itertools.count()
    inner = FakeLLM(lambda m: f"sample {next(it)}", supports_constraints=True)
    c = CachedLLM(inner, tmp_path / "c.sqlite")
    assert c.supports_constraints and not CachedLLM(counter(), tmp_path / "d.sqlite").supports_constraints
    a = sigs("x", "y")
    free = await c.complete(M)
    with_a = await c.complete(M, constraint=a)
    assert with_a.texts != free.texts and inner.calls[-1]["constraint"] == a
    assert (await c.complete(M, constraint=sigs("y", "x"))).texts == with_a.texts  # order-free key
    await c.complete(M, constraint=sigs("x", "z"))
    assert len(inner.calls) == 3 and "constraint" not in inner.calls[0]


async def test_n_grows_incrementally(tmp_path):
    inner = counter()
    c = CachedLLM(inner, tmp_path / "c.sqlite")
    three = await c.complete(M, n=3, temperature=1.0)
    five = await c.complete(M, n=5, temperature=1.0)
    assert five.texts[:3] == three.texts and five.texts[3:] == ["sample 3", "sample 4"]
    assert [k["n"] for k in inner.calls] == [3, 2]
    assert five.usage.cached_calls == 0


async def test_seeded_refill_uses_per_sample_seeds(tmp_path):
    inner = FakeLLM(lambda m: "x")
    c = CachedLLM(inner, tmp_path / "c.sqlite")
    await c.complete(M, n=1, temperature=0.8, seed=7)
    await c.complete(M, n=3, temperature=0.8, seed=7)
    assert [k["seed"] for k in inner.calls] == [7, sample_seed(7, 1), sample_seed(7, 2)]
    assert all(k["n"] == 1 for k in inner.calls)


def _writer(path, out):
    async def go():
        c = CachedLLM(FakeLLM(lambda m: f"from {out}"), path)
        return (await c.complete(M, n=4, temperature=1.0)).texts
    return asyncio.run(go())


@pytest.mark.timeout(60)
@pytest.mark.integration
def test_racing_processes_agree(tmp_path):
    """Two processes fill the same keys; the first write wins and both read it back."""
    path = tmp_path / "c.sqlite"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        a, b = pool.starmap(_writer, [(path, "a"), (path, "b")])
    final = _writer(path, "c")
    assert a == b == final and final in (["from a"] * 4, ["from b"] * 4)
