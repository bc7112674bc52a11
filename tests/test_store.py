"""The one JSONL store: a torn last line is ignored by readers and cut off by appenders; a bad
line elsewhere names file and line."""
from __future__ import annotations

import json

import pytest

from flowforge.errors import DataError
from flowforge.store import JsonlAppender, read_records, write_records


@pytest.mark.parametrize("tail", ['{"k": 3', '{"k": 3}', "\x00\x00\x00", '{"k": 3\n', "garbage\n\n"])
def test_torn_last_line_is_ignored_then_cut_before_appending(tmp_path, tail):
    path = tmp_path / "r.jsonl"
    path.write_text('{"k": 1}\n\n{"k": 2}\n' + tail)
    assert read_records(path) == [{"k": 1}, {"k": 2}]
    with JsonlAppender(path) as out:
        assert out.records == [{"k": 1}, {"k": 2}]
        out.append({"k": 4})
    assert read_records(path) == [{"k": 1}, {"k": 2}, {"k": 4}]
    assert path.read_text().endswith('{"k": 2}\n' + json.dumps({"k": 4}) + "\n")


def test_bad_line_before_the_end_names_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"k": 1}\nnot json\n{"k": 2}\n')
    with pytest.raises(DataError, match=r"r\.jsonl:2: not a record line"):
        read_records(path)
    path.write_text('{"k": 1}\n[1, 2]\n{"k": 2}\n')
    with pytest.raises(DataError, match=r"r\.jsonl:2: .*expected a JSON object, got list"):
        JsonlAppender(path)


def test_missing_file_and_rewrite(tmp_path):
    path = tmp_path / "sub" / "r.jsonl"
    assert read_records(path) == []
    with JsonlAppender(path, sync=True) as out:
        out.append({"a": 1})
    write_records(path, [{"b": 2}])
    assert read_records(path) == [{"b": 2}] and not path.with_suffix(".jsonl.tmp").exists()
