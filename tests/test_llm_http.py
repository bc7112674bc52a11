"""The OpenAI-compatible HTTP backend: fault injection against a loopback server (issue 8),
and a real round trip through `flowforge serve`'s app backed by the embedded model."""
import asyncio
import time

import pytest

from fault_server import FaultServer, ServerThread
from flowforge.errors import BackendConfigError, BackendError
from flowforge.llm.openai_http import OpenAILLM

pytestmark = pytest.mark.timeout(60)
M = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def server():
    """One loopback server for the module (stopping one takes ~0.2 s); each test resets its script."""
    with FaultServer() as s:
        yield s


def client(url, retries=3):
    return OpenAILLM("m", url, retries=retries, timeout_s=0.5, backoff_s=0.01, max_backoff_s=0.05)


@pytest.mark.parametrize("faults", [["429"], ["500", "503"], ["timeout"], ["garbage"], ["truncated"], ["empty"],
                                    ["429", "garbage", "500"]])
async def test_transient_faults_are_retried(server, faults):
    s = server.reset(faults)
    c = await client(s.url).complete(M, n=2)
    assert c.texts == ["echo: hi #0", "echo: hi #1"]
    assert s.requests == len(faults) + 1
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.calls) == (3, 4, 1)


@pytest.mark.parametrize("fault,reason", [("500", "HTTP 500"), ("429", "HTTP 429"), ("timeout", "timed out"),
                                          ("garbage", "malformed"), ("empty", "malformed")])
async def test_persistent_faults_give_up_with_reason(server, fault, reason):
    s = server.reset(forever=fault, sleep_s=1.0)
    t0 = time.perf_counter()
    with pytest.raises(BackendError) as e:
        await client(s.url, retries=2).complete(M)
    assert not isinstance(e.value, BackendConfigError)
    assert reason in str(e.value) and "3 tries" in str(e.value)
    assert s.requests == 3  # bounded: 1 + 2 retries
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("fault,msg", [("401", "credentials"), ("403", "credentials"), ("404", "not found")])
async def test_auth_and_404_fail_fast(server, fault, msg):
    s = server.reset(forever=fault)
    with pytest.raises(BackendConfigError, match=msg):
        await client(s.url).complete(M)
    assert s.requests == 1


async def test_unreachable_is_config_error():
    with pytest.raises(BackendConfigError, match="cannot reach http://127.0.0.1:9/v1"):
        await client("http://127.0.0.1:9/v1", retries=1).complete(M)


async def test_fewer_choices_are_topped_up_and_params_sent(server):
    s = server.reset(forever="few")
    c = await client(s.url).complete(M, n=3, temperature=0.5, max_tokens=7, stop=["\n"], seed=3)
    assert len(c.texts) == 3 and s.requests == 3
    b = s.bodies[0]
    assert (b["n"], b["temperature"], b["max_tokens"], b["stop"], b["seed"]) == (3, 0.5, 7, ["\n"], 3)
    assert s.bodies[1]["n"] == 2 and "n" not in s.bodies[2]


async def test_concurrency_is_bounded(server):
    s = server.reset(forever="timeout", sleep_s=0.3)
    llm = OpenAILLM("m", s.url, retries=0, timeout_s=5, concurrency=2)
    t0 = time.perf_counter()
    await asyncio.gather(*(llm.complete(M) for _ in range(4)))
    assert time.perf_counter() - t0 >= 0.55  # 4 requests, 2 at a time, 0.3 s each


@pytest.mark.model
@pytest.mark.timeout(300)
async def test_serve_round_trip_with_embedded():
    from flowforge.llm import load_llm
    from flowforge.llm.serve import build_app

    local = load_llm("embedded", cache=False)
    with ServerThread(build_app(local)) as srv:
        remote = OpenAILLM("embedded", srv.url, retries=0, timeout_s=120)
        c = await remote.complete(M, max_tokens=5)
        direct = await local.complete(M, max_tokens=5)
        assert c.texts == direct.texts and c.texts[0].strip()
        assert c.usage.completion_tokens == direct.usage.completion_tokens > 0
        import httpx

        async with httpx.AsyncClient() as h:
            models = (await h.get(srv.url + "/models")).json()
            assert models["data"][0]["id"] == local.name == "embedded@ct2"  # the engine `embedded` resolved to
            bad = await h.post(srv.url + "/chat/completions", json={"messages": "nope"})
            assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]
