"""One test per adversarial program (tests/adversarial/corpus.py), at every isolation level that
works here: the program is contained AND the host is unchanged (see harness.run_case)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from corpus import CASES  # noqa: E402
from harness import Host, available_levels, run_case  # noqa: E402

LEVELS = available_levels()
_RESULTS: dict[str, bool] = {}


@pytest.fixture(scope="module")
def host():
    import os
    import tempfile

    saved = {k: os.environ.get(k) for k in ("FLOWFORGE_TEST_SECRET", "OPENAI_API_KEY")}
    saved_tmp = tempfile.tempdir
    h = Host()
    yield h
    tempfile.tempdir = saved_tmp
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_corpus_is_big_enough():
    assert len(CASES) >= 50
    assert "bwrap" in LEVELS


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_contained(host, case, level):
    if level not in case.levels:
        pytest.skip(f"{case.name} defeats the audit hook; only the OS ({', '.join(case.levels)}) contains it")
    contained, why = run_case(host, case, level)
    _RESULTS[f"{level}/{case.name}"] = contained
    assert contained, why


def test_zz_summary(capsys):
    ok = sum(_RESULTS.values())
    with capsys.disabled():
        print(f"\ncontained {ok}/{len(_RESULTS)}")
    assert ok == len(_RESULTS)
