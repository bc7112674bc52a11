"""One small real run: io.py on 2 gsm8k instances with the embedded executor, a few tokens."""
import json

import pytest

from flowforge.operators import load_operator_set
from flowforge.workflow.runtime import run_workflow_on_instances


@pytest.mark.model
async def test_io_on_gsm8k_with_embedded_model(tmp_path):
    from pathlib import Path

    from flowforge.llm import load_llm
    from flowforge.tasks import get_task
    from flowforge.workflow.reference import REFERENCE_DIR

    task = get_task("gsm8k")
    source = (REFERENCE_DIR / "io.py").read_text()
    s = await run_workflow_on_instances(source, task, task.load("test", limit=2), executor=load_llm("embedded", cache=False),
                                        opset=load_operator_set("default"), out_dir=tmp_path, max_tokens=6)
    assert s.n == 2 and s.errors == 0 and s.usage.calls == 2
    assert 0 < s.usage.completion_tokens <= 12 and s.score in (0.0, 0.5, 1.0)
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["answer"] for r in rows)
