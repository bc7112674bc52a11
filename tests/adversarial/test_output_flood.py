"""Output floods, many at once: every run ends as OutputLimitExceeded, none hangs on its pipes.

A flood can fill the host's stream buffer past asyncio's pause mark before the cap is seen (under
load, or with a 1 MiB pipe); a run that then waited on wait() never ended (found in CI)."""
from __future__ import annotations

import asyncio
import time

import pytest

from flowforge.sandbox import Limits, get_sandbox
from flowforge.sandbox.core import _probe

LEVELS = [lv for lv in ("bwrap", "unsafe-rlimits") if _probe(lv) is None]
FLOODS = {
    "stdout_loop": "import os\nwhile True:\n    os.write(1, b'z' * 65536)",
    "stderr_loop": "import os\nwhile True:\n    os.write(2, b'e' * 65536)",
    "one_mib_pipe": "import fcntl, os, time\nfcntl.fcntl(1, 1031, 1 << 20)\nos.write(1, b'z' * (1 << 20))\ntime.sleep(30)",
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("level", LEVELS)
async def test_many_concurrent_floods_all_end_at_the_cap(level):
    box, gate = get_sandbox(level), asyncio.Semaphore(4)

    async def one(code: str) -> tuple[str | None, float]:
        async with gate:
            t = time.monotonic()
            r = await asyncio.wait_for(box.arun(code, Limits(wall_s=5, max_output_bytes=100_000)), 60)
            return r.error, time.monotonic() - t

    got = await asyncio.gather(*(one(code) for code in FLOODS.values() for _ in range(20)))
    assert [e for e, _ in got] == ["OutputLimitExceeded"] * len(got)
    assert max(s for _, s in got) < 5  # the cap, not the 5 s wall limit, ended every run
