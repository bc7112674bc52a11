"""Closing a batching engine, on both local engines over the real embedded model: close() ends the
batch in flight at its next token and refuses new work, and a process that exits mid-generation
exits 0 (a worker thread left inside the engine at shutdown once aborted it with exit 134)."""
import os
import subprocess
import sys
import time

import pytest

from flowforge.errors import BackendError
from flowforge.llm import load_llm
from flowforge.llm.batching import Request

pytestmark = [pytest.mark.model, pytest.mark.timeout(600)]

# A second engine over the same weights (transformers) or the same conversion (ct2).
PRIVATE = {"ct2": lambda e: type(e)(e.model_dir), "transformers": lambda e: type(e)(e.model, e.tok)}
COUNT = [{"role": "user", "content": "Count to 500."}]


def request(prompt_ids, max_new=4000):
    return Request(prompt_ids=prompt_ids, rows=1, copies=1, temperature=0.0, max_new=max_new, stop=[], seeds=[0])


@pytest.mark.parametrize("kind", list(PRIVATE))
def test_close_mid_generation_and_clean_exit(kind):
    eng = PRIVATE[kind](load_llm(f"embedded@{kind}", cache=False).load())
    req = request(eng.encode(COUNT))
    eng.submit(req)
    while not req.future.running():
        time.sleep(0.01)
    t = time.monotonic()
    eng.close()
    assert time.monotonic() - t < 10 and not eng._thread.is_alive()
    with pytest.raises(BackendError, match="closed"):
        req.future.result(timeout=0)
    with pytest.raises(BackendError, match="closed"):
        eng.submit(request(req.prompt_ids, max_new=2))

    code = (
        "import time\n"
        "from flowforge.llm import load_llm\n"
        "from flowforge.llm.batching import Request\n"
        f"eng = load_llm('embedded@{kind}', cache=False).load()\n"
        f"r = Request(prompt_ids=eng.encode({COUNT!r}), rows=1, copies=1, temperature=0.0, max_new=4000,"
        " stop=[], seeds=[0])\n"
        "eng.submit(r)\n"
        "while not r.future.running():\n"
        "    time.sleep(0.01)\n"
        "time.sleep(0.3)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240,
                       env={**os.environ, "FLOWFORGE_TORCH_THREADS": "1"})
    assert p.returncode == 0 and "terminate called" not in p.stderr, p.stderr[-2000:]
