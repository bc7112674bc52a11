"""Model spec parsing, load_llm wiring, FakeLLM, and CLI errors (one line, exit 2)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import FakeLLM
from flowforge.errors import BackendConfigError
from flowforge.llm import load_llm, parse_spec
from flowforge.llm.cache import CachedLLM
from flowforge.llm.openai_http import OpenAILLM
from flowforge.llm.sampling import truncate_at_stop

CLI = [sys.executable, "-c", "from flowforge.cli import main; main()"]


def test_every_spec_form_parses_with_absolute_paths(tmp_path):
    assert parse_spec("embedded").kind == "embedded"
    s = parse_spec(f"hf:{tmp_path}+adapter:{tmp_path}")
    assert (s.kind, s.path, s.adapter) == ("hf", str(tmp_path.resolve()), str(tmp_path.resolve()))
    s = parse_spec("openai:gpt-4o-mini@https://api.example.com/v1/")
    assert (s.model, s.base_url) == ("gpt-4o-mini", "https://api.example.com/v1")
    assert parse_spec("openai:org/model@v2@http://h:1/v1").model == "org/model@v2"
    assert parse_spec("embedded+adapter:" + str(tmp_path)).adapter == str(tmp_path.resolve())


@pytest.mark.parametrize("bad", ["nope", "", "hf:", "gpt-4", "openai:gpt-4", "openai:m@ftp://x", "embedded+adapter:"])
def test_unknown_spec_lists_forms(bad):
    with pytest.raises(BackendConfigError) as e:
        parse_spec(bad)
    assert "openai:MODEL@BASE_URL" in str(e.value)


def test_missing_checkpoint_dir_is_named(tmp_path):
    with pytest.raises(BackendConfigError, match="does-not-exist"):
        load_llm(f"hf:{tmp_path}/does-not-exist")


def test_load_llm_openai_cached_and_uncached(tmp_path):
    llm = load_llm("openai:m@http://127.0.0.1:9/v1", cache=tmp_path / "c.sqlite")
    assert isinstance(llm, CachedLLM) and isinstance(llm.inner, OpenAILLM)
    assert (tmp_path / "c.sqlite").exists()
    assert isinstance(load_llm("openai:m@http://127.0.0.1:9/v1", cache=False), OpenAILLM)


def test_truncate_at_stop_earliest():
    assert truncate_at_stop("a END b STOP", ["STOP", "END"]) == "a "
    assert truncate_at_stop("abc", None) == "abc"
    assert truncate_at_stop("abc", [""]) == "abc"


async def test_fake_llm_script_and_rule():
    f = FakeLLM(["one two", "three"])
    c = await f.complete([{"role": "user", "content": "x y z"}], n=2, temperature=0.5)
    assert c.texts == ["one two", "three"] and c.usage.prompt_tokens == 3 and c.usage.completion_tokens == 3
    assert f.calls[0]["n"] == 2 and f.calls[0]["temperature"] == 0.5
    with pytest.raises(AssertionError, match="exhausted"):
        await f.complete([{"role": "user", "content": "x"}])
    g = FakeLLM(lambda m: m[-1]["content"].upper())
    assert (await g.complete([{"role": "user", "content": "hi"}])).texts == ["HI"]
    assert g.usage.calls == 1


def _cli(*args, **env):
    e = {**os.environ, **env}
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=60, env=e)


@pytest.mark.timeout(90)
@pytest.mark.integration
def test_cli_unknown_spec_exit_2(tmp_path):
    r = _cli("serve", "--model", "nope", FLOWFORGE_HOME=str(tmp_path), COLUMNS="300")
    assert r.returncode == 2
    assert "unknown model spec 'nope'" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(90)
@pytest.mark.integration
def test_cli_unreachable_endpoint_exit_2(tmp_path):
    r = _cli("complete", "hi", "--model", "openai:m@http://127.0.0.1:9/v1", "--no-cache",
             FLOWFORGE_HOME=str(tmp_path), FLOWFORGE_HTTP_RETRIES="1", COLUMNS="300")
    assert r.returncode == 2
    assert "cannot reach http://127.0.0.1:9/v1" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
