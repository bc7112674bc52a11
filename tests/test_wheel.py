"""The installable package: build the wheel, install it into a fresh virtual environment outside
the repo, and run the CLI from a directory that is not the repo.

Offline: the fresh environment gets its dependencies from this one's site-packages through a
.pth file, and the wheel is installed with --no-deps. The model-free checks run by default; the
commands that need the embedded model (run, eval with io/cot/generator) are marked slow.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "unit_convert"


def _sh(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**env, "COLUMNS": "200"})
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(flowforge executable of a fresh venv holding only the wheel, a work dir outside the repo)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"  # build from a copy, so the build never writes into the shared tree
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    dist = root / "dist"
    r = _sh([sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_wheel({str(dist)!r}))"], src)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheel = dist / r.stdout.strip().splitlines()[-1]
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("flowforge/workflow/reference/io.py", "flowforge/workflow/reference/cot.py",
                   "flowforge/operators/sets/default.yaml", "flowforge/data/gsm8k/test.jsonl",
                   "flowforge/adapters/metaflow-sft/adapter_model.safetensors"):
        assert needed in names, needed
    venv = root / "venv"
    assert _sh([sys.executable, "-m", "venv", str(venv)], root).returncode == 0
    purelib = Path(_sh([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       root).stdout.strip())
    (purelib / "_flowforge_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = _sh([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], root)
    assert r.returncode == 0, r.stderr[-2000:]
    work = root / "work"
    shutil.copytree(EXAMPLE, work / "unit_convert")
    where = _sh([str(venv / "bin" / "python"), "-c", "import flowforge; print(flowforge.__file__)"], work).stdout
    assert where.startswith(str(purelib)), where  # the wheel, not the repo's editable install
    return venv / "bin" / "flowforge", work


def test_wheel_runs_without_the_repo(installed):
    flowforge, work = installed
    r = _sh([str(flowforge), "tasks"], work)
    assert r.returncode == 0 and "gsm8k" in r.stdout and "bbh/snarks" in r.stdout
    r = _sh([str(flowforge), "operators", "default"], work)
    assert r.returncode == 0 and "answer_generate" in r.stdout
    # a user task with an operator from user code, and a reference workflow by name (check only)
    r = _sh([str(flowforge), "run", "unit_convert/convert.py", "--task", "unit_convert/spec.yaml",
             "--operators", "unit_convert/operators.yaml", "--limit", "4", "--out", "tool-run"], work)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert json.loads((work / "tool-run" / "summary.json").read_text())["score"] == 1.0
    r = _sh([str(flowforge), "run", "nope", "--task", "gsm8k"], work)
    assert r.returncode == 2 and "unknown reference workflow 'nope'; choose from code_test, cot" in r.stderr


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(5400)  # its subprocesses have their own limits, up to 2400 s
def test_wheel_runs_and_evaluates_on_the_embedded_model(installed):
    flowforge, work = installed
    r = _sh([str(flowforge), "run", "io", "--task", "gsm8k", "--limit", "2", "--out", "io-run"], work, timeout=900)
    assert r.returncode in (0, 1) and "run dir: io-run" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    assert json.loads((work / "io-run" / "summary.json").read_text())["n"] == 2
    r = _sh([str(flowforge), "eval", "--methods", "io", "--limit", "1", "--out", "eval-default"], work, timeout=1800)
    cells = json.loads((work / "eval-default" / "eval.json").read_text())["cells"]
    assert len(cells) == 9 and all(c["status"] == "ok" for c in cells), [c["reason"] for c in cells]
    r = _sh([str(flowforge), "eval", "--tasks", "unit_convert/spec.yaml,gsm8k", "--methods", "io,cot,generator",
             "--limit", "3", "--out", "eval-mine"], work, timeout=2400)
    cells = json.loads((work / "eval-mine" / "eval.json").read_text())["cells"]
    assert {(c["method"], c["task"]) for c in cells} == {(m, t) for m in ("io", "cot", "generator")
                                                           for t in ("unit_convert", "gsm8k")}
    assert all(c["status"] in ("ok", "invalid") for c in cells), [c["reason"] for c in cells]
    assert all(c["n"] == 3 for c in cells if c["status"] == "ok")
    assert (work / "eval-mine" / "report.html").exists() and (work / "eval-mine" / "score_vs_cost.png").exists()
