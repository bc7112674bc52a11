"""Bad input for tasks (issue 8's corpus): every case is a DataError naming the file/line/field,
and the CLI turns it into one line and exit code 2, never a traceback."""
import subprocess
import sys

import pytest

from flowforge.errors import DataError
from flowforge.tasks import get_task

SPEC = ("name: t\ndomain: qa\ndescription: Questions.\nanswer_format: a span\nscorer: f1\n"
        "fields:\n  problem: q\n  reference: a\nsplits:\n  test: d.jsonl\n")


def make(tmp_path, data: bytes, spec: str = SPEC):
    (tmp_path / "d.jsonl").write_bytes(data)
    (tmp_path / "t.yaml").write_text(spec)
    return str(tmp_path / "t.yaml")


def load_err(path) -> str:
    with pytest.raises(DataError) as e:
        get_task(path).load("test")
    return str(e.value)


def test_unknown_task_lists_close_names():
    with pytest.raises(DataError, match=r"unknown task 'gsm8K'.*gsm8k"):
        get_task("gsm8K")
    with pytest.raises(DataError, match=r"bbh/snarks"):
        get_task("bbh/snark")
    with pytest.raises(DataError, match=r"synth/list_ops"):
        get_task("synth/listops")


def test_unknown_split_names_the_splits():
    with pytest.raises(DataError, match=r"hotpotqa has no split 'train' \(splits: test\)"):
        get_task("hotpotqa").load("train")


def test_missing_spec_and_missing_data_file(tmp_path):
    with pytest.raises(DataError, match="task spec not found"):
        get_task(str(tmp_path / "nope.yaml"))
    (tmp_path / "t.yaml").write_text(SPEC)
    with pytest.raises(DataError, match=r"split 'test': data file .*d\.jsonl not found"):
        get_task(str(tmp_path / "t.yaml"))


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    msg = load_err(make(tmp_path, b'{"q": "a", "a": "b"}\n\n{"q": "c", "a": \n'))
    assert "d.jsonl:3: invalid JSON" in msg


def test_a_non_object_line_is_named_with_file_and_line(tmp_path):
    assert "d.jsonl:2: expected a JSON object, got list" in load_err(make(tmp_path, b'{"q": "a", "a": "b"}\n[1, 2]\n'))


def test_a_missing_field_lists_the_fields_the_row_has(tmp_path):
    msg = load_err(make(tmp_path, b'{"q": "a", "a": "b"}\n{"question": "c", "answer": "d"}\n'))
    assert "d.jsonl:2: missing field 'q' (row has: answer, question)" in msg


def test_wrong_field_in_template(tmp_path):
    spec = SPEC.replace("problem: q", "problem: '{q} {passage}'")
    assert "d.jsonl:1: missing field 'passage'" in load_err(make(tmp_path, b'{"q": "a", "a": "b"}\n', spec))


def test_an_empty_data_file_is_refused(tmp_path):
    assert "empty file, no instances" in load_err(make(tmp_path, b"\n  \n"))


def test_binary_or_non_utf8_data_is_named_with_its_line(tmp_path):
    msg = load_err(make(tmp_path, b'{"q": "a", "a": "b"}\n\x89PNG\r\n\x1a\n\x00\x00\x00'))
    assert "d.jsonl:" in msg and ("binary" in msg or "UTF-8" in msg)
    assert "d.jsonl:2: not UTF-8" in load_err(make(tmp_path, b'{"q": "a", "a": "b"}\n\xff\xfe{}\n'))


@pytest.mark.parametrize("edit,match", [
    (("scorer: f1", "scorer: bleu"), r"field 'scorer': unknown scorer 'bleu' \(choose from"),
    (("domain: qa", "domain: chat"), r"field 'domain'"),
    (("name: t\n", ""), r"field 'name': Field required"),
    (("scorer: f1", "scorer: f1\ncolour: red"), r"field 'colour'"),
    (("  reference: a\n", ""), r"field 'fields.reference'"),
    (("splits:\n  test: d.jsonl\n", "splits: {}\n"), r"field 'splits'"),
    (("scorer: f1", "scorer: f1\ntrain_splits: [train]"), r"'train' is not one of the splits"),
    (("fields:", "fields: [\n"), r"t\.yaml:\d+: invalid YAML"),
])
def test_each_bad_spec_field_is_named(tmp_path, edit, match):
    path = make(tmp_path, b'{"q": "a", "a": "b"}\n', SPEC.replace(*edit))
    with pytest.raises(DataError, match=match):
        get_task(path)


def test_spec_not_a_mapping_and_binary_spec(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"q": "a", "a": "b"}\n')
    (tmp_path / "t.yaml").write_text("- just\n- a list\n")
    with pytest.raises(DataError, match="must be a YAML mapping"):
        get_task(str(tmp_path / "t.yaml"))
    (tmp_path / "b.yaml").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(DataError, match="b.yaml"):
        get_task(str(tmp_path / "b.yaml"))


CLI = [sys.executable, "-c", "from flowforge.cli import main; main()"]


@pytest.mark.integration
def test_cli_bad_task_is_one_line_exit_2(tmp_path):
    r = subprocess.run([*CLI, "tasks", "--show", "gsm9k"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "did you mean gsm8k" in r.stderr.replace("\n", " ")
    assert "Traceback" not in r.stderr
    path = make(tmp_path, b'{"q": "a", "a": "b"}\n{oops\n')
    r = subprocess.run([*CLI, "tasks", "--show", path], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "d.jsonl:2" in r.stderr.replace("\n", "")
