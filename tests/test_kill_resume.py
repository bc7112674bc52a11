"""Kill and resume (issue 8, item 3): the real `flowforge run` CLI, SIGKILLed at random points and
resumed into the same --out dir, ends with exactly the results of an uninterrupted run.

The executor is `FakeOpenAIServer`, a loopback OpenAI-compatible server whose answers are a
deterministic function of the request (which known problem the prompt contains), with a fixed
delay so a run lasts a few seconds. FLOWFORGE_HOME is a tmp dir per run, so the response cache
is isolated. Checked after every kill and at the end (what `workflow/rundir.py` promises):
no completed instance lost or changed, no duplicate ids, every result's traces on disk, no
traces of unfinished instances after a resume, and results equal to an uninterrupted run.
Plus one Ctrl-C (SIGINT): exit 130 with one line, no traceback, a consistent directory.

    .venv/bin/python -m pytest tests/test_kill_resume.py -q      (about 40 s on 2 busy cores)
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

pytestmark = pytest.mark.integration

from fault_server import ServerThread, ok_body
from flowforge.tasks import get_task

TASK, SPLIT, N = "synth/arith_word", "test", 20
WORKFLOW = Path(__file__).resolve().parents[1] / "src/flowforge/workflow/reference" / "cot.py"  # answer_generate + format: 2 calls
CLI = [sys.executable, "-c", "from flowforge.cli import main; main()"]
KILLS, SEED = 10, 8


class FakeOpenAIServer(ServerThread):
    """Answers chat requests about known problems: deterministic, ~2/3 of them right, after `delay_s`."""

    def __init__(self, problems: dict[str, str], delay_s: float = 0.3):
        self.problems, self.delay_s, self.requests = problems, delay_s, 0
        super().__init__(Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])]))

    def answer_for(self, content: str) -> str:
        for problem, ref in self.problems.items():
            if problem in content:
                right = int(hashlib.sha256(problem.encode()).hexdigest(), 16) % 3 != 0
                return ref if right else str(int(ref) + 1)
        return "0"

    async def chat(self, request: Request) -> JSONResponse:
        self.requests += 1
        content = (await request.json())["messages"][-1]["content"]
        await asyncio.sleep(self.delay_s)
        ans = self.answer_for(content)
        text = ans if "Give only the final answer" in content else f"Multiply, add, divide.\nAnswer: {ans}"
        return JSONResponse(ok_body([text]))


@pytest.fixture(scope="module")
def server():
    insts = get_task(TASK).load(SPLIT, limit=N)
    with FakeOpenAIServer({i.problem: str(i.reference) for i in insts}) as srv:
        yield srv


def cli_args(url: str, out: Path, concurrency: int, limit: int = N) -> list[str]:
    return [*CLI, "run", str(WORKFLOW), "--task", TASK, "--split", SPLIT, "--limit", str(limit),
            "--executor", f"openai:fake@{url}", "--concurrency", str(concurrency), "--out", str(out)]


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "FLOWFORGE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}


def lines(path: Path) -> list[dict]:
    """Complete JSON lines; a torn last line (a kill mid-write: no newline) is ignored."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [json.loads(x) for x in data[: data.rfind(b"\n") + 1].splitlines()]


def results_of(out: Path) -> dict[str, tuple]:
    rows = lines(out / "results.jsonl")
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), f"duplicate result ids in {out}: {sorted(ids)}"
    return {r["id"]: (r["answer"], r["score"], r["error"]) for r in rows}


def traces_by_id(out: Path) -> dict[str, list[tuple]]:
    by: dict[str, list[tuple]] = {}
    for t in lines(out / "traces.jsonl"):
        by.setdefault(t["instance_id"], []).append((t["operator"], json.dumps(t["inputs"], sort_keys=True),
                                                    json.dumps(t["output"], sort_keys=True), t["error"]))
    return by


def wait_for(pred, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred() or (proc is not None and proc.poll() is not None):
            return pred()
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory):
    """An uninterrupted run (higher concurrency, own cache): the results every resumed run must reach."""
    out = tmp_path_factory.mktemp("ref") / "run"
    r = subprocess.run(cli_args(server.url, out, 8), env=env_for(out.parent / "home"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    res, tr = results_of(out), traces_by_id(out)
    assert len(res) == N and all(e is None for _, _, e in res.values())
    scores = [s for _, s, _ in res.values()]
    assert 0 < sum(scores) < N  # the fake gets some right and some wrong: the comparison means something
    assert set(tr) == set(res) and all(len(v) == 2 for v in tr.values())
    return res, tr


def check_against(out: Path, ref_res: dict, ref_tr: dict, *, resumed: bool) -> dict:
    """Every finished instance equals the reference and has exactly its traces."""
    res, tr = results_of(out), traces_by_id(out)
    for i, v in res.items():
        assert v == ref_res[i], f"{i}: {v} != reference {ref_res[i]}"
        assert tr.get(i) == ref_tr[i], f"{i}: traces {tr.get(i)} != reference {ref_tr[i]}"
    if resumed:  # opening the dir dropped traces of instances that never finished
        assert set(tr) <= set(res), f"traces of unfinished instances: {sorted(set(tr) - set(res))}"
    return res


def test_sigkill_ten_times_then_resume_matches_uninterrupted(server, reference, tmp_path):
    ref_res, ref_tr = reference
    out, home = tmp_path / "run", tmp_path / "home"
    rng = random.Random(SEED)
    completed: dict[str, tuple] = {}  # every result ever seen on disk
    progress = []
    for k in range(KILLS):
        before = len(completed)
        proc = subprocess.Popen(cli_args(server.url, out, 2), env=env_for(home),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            if rng.random() < 0.4:  # a random time after spawn: may land in start-up or resume
                time.sleep(rng.uniform(0.2, 2.5))
            else:  # a random point after 1-2 more results (never near the end, so the run is cut)
                target = min(before + rng.randint(1, 2), N - 4)
                wait_for(lambda: len(lines(out / "results.jsonl")) >= target, 30, proc)
                time.sleep(rng.uniform(0.0, 0.4))
            assert proc.poll() is None, f"run {k} ended before its kill: {proc.stderr.read().decode()[-2000:]}"
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        now = check_against(out, ref_res, ref_tr, resumed=False)
        lost = {i for i in completed if i not in now}
        assert not lost, f"kill {k}: completed instances lost: {sorted(lost)}"
        completed.update(now)
        progress.append(len(now))
    assert len(completed) < N, "every instance finished before the last kill: the kills tested nothing"
    assert progress[-1] > 0 and len(set(progress)) > 3, f"kills did not land at varied points: {progress}"

    final = subprocess.run(cli_args(server.url, out, 2), env=env_for(home), capture_output=True, text=True,
                           timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    assert f"({len(completed)} resumed)" in final.stdout
    res = check_against(out, ref_res, ref_tr, resumed=True)
    assert res == ref_res  # all N ids, once each, same answers and scores
    assert set(traces_by_id(out)) == set(res)
    assert len(lines(out / "results.jsonl")) == N
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and summary["n"] == N and summary["resumed"] == len(completed)
    assert summary["score"] == pytest.approx(sum(s for _, s, _ in ref_res.values()) / N)


def test_ctrl_c_exits_cleanly_and_resumes(server, reference, tmp_path):
    ref_res, ref_tr = reference
    out, home, n = tmp_path / "run", tmp_path / "home", 8
    # SIGINT at its default in the child even when the suite runs as a background job (`make test &`),
    # whose shell hands every child an ignored SIGINT
    proc = subprocess.Popen(cli_args(server.url, out, 2, limit=n), env=env_for(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert wait_for(lambda: len(lines(out / "results.jsonl")) >= 2, 30, proc), "no progress before Ctrl-C"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in stdout + stderr
    res = check_against(out, ref_res, ref_tr, resumed=True)  # a clean stop leaves no dangling traces
    assert 2 <= len(res) < n
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["n"] == len(res)

    again = subprocess.run(cli_args(server.url, out, 2, limit=n), env=env_for(home), capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    res = check_against(out, ref_res, ref_tr, resumed=True)
    assert len(res) == n and len(lines(out / "results.jsonl")) == n
    assert json.loads((out / "summary.json").read_text())["complete"] is True
    assert proc.returncode == 130, stdout + stderr
    assert [ln for ln in stderr.splitlines() if ln.strip()] == ["interrupted"]


def test_ctrl_c_while_the_command_line_imports_is_one_line_too():
    # SIGINT delivered while flowforge.cli imports typer: the console script's entry catches it
    code = ("import importlib.abc, os, signal, sys\n"
            "class Interrupt(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'typer':\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "        return None\n"
            "sys.meta_path.insert(0, Interrupt())\n"
            "from flowforge.__main__ import main\n"
            "main()\n")
    r = subprocess.run([sys.executable, "-c", code, "tasks"], capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert (r.returncode, r.stderr.strip(), r.stdout) == (130, "interrupted", "")
