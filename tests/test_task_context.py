"""Which instance context a task provides (passages, public tests, entry point), and which
operators it can therefore serve: built-in tasks read it off their instances, a user task spec
declares it under `fields.context`, and an unknown kind is refused with file and field."""
import subprocess
import sys

import pytest

from flowforge.errors import DataError, UserError
from flowforge.operators import load_operator_set
from flowforge.tasks import get_task

SPEC = ("name: t\ndomain: qa\ndescription: Questions.\nanswer_format: a span\nscorer: f1\n"
        "fields:\n  problem: q\n  reference: a\n  context:\n    {kind}: paras\nsplits:\n  test: d.jsonl\n")


def spec(tmp_path, kind: str) -> str:
    (tmp_path / "d.jsonl").write_text('{"q": "Capital of Italy?", "a": "Rome", "paras": ["Rome is in Italy."]}\n')
    (tmp_path / "t.yaml").write_text(SPEC.format(kind=kind))
    return str(tmp_path / "t.yaml")


@pytest.mark.parametrize("name, provides", [
    ("gsm8k", set()), ("bbh/boolean_expressions", set()), ("drop", {"passages"}), ("hotpotqa", {"passages"}),
    ("mbpp", {"public_tests", "entry_point"}), ("humaneval", {"public_tests", "entry_point"}),
    ("synth/passage_qa", {"passages"}), ("synth/list_ops", {"public_tests", "entry_point"}),
])
def test_builtin_tasks_derive_what_they_provide(name, provides):
    assert get_task(name).provides == provides


def test_user_spec_declares_its_context_and_gets_the_operators_for_it(tmp_path):
    task = get_task(spec(tmp_path, "passages"))
    assert task.provides == {"passages"}
    bound = load_operator_set("novel").for_task(task)
    assert "search_context" in bound.names  # retrieve, renamed: `needs` follows the rename
    assert {op.name for op in bound.unavailable} == {"check_and_fix", "run_checks"}
    assert "check_and_fix" not in bound.describe() and "search_context(" in bound.describe()


@pytest.mark.integration
def test_unknown_context_kind_names_file_and_field(tmp_path):
    path = spec(tmp_path, "paragraphs")
    with pytest.raises(DataError, match=r"t\.yaml: field 'fields\.context\.paragraphs': unknown context kind "
                                        r"'paragraphs' \(known: passages, public_tests, entry_point\)"):
        get_task(path)
    r = subprocess.run([sys.executable, "-c", "from flowforge.cli import main; main()", "run", "io", "--task", path],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "fields.context.paragraphs" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("operator, error", [
    ("  - name: look\n    signature: 'look(query: str) -> list[str]'\n    description: Passages.\n"
     "    impl: retrieve\n    needs: [documents]\n", r"operators\[0\]\.needs.*unknown context kind 'documents'"),
    ("  - name: tally\n    signature: 'tally(answers: lst) -> str'\n    description: Most frequent.\n"
     "    impl: vote\n", r"operators\[0\].*'lst' is not a type"),
], ids=["needs-a-known-context-kind", "signature-types-are-types"])
def test_operator_fields_are_checked(tmp_path, operator, error):
    (tmp_path / "s.yaml").write_text("name: s\noperators:\n" + operator)
    with pytest.raises(UserError, match=r"s\.yaml: field " + error):
        load_operator_set(str(tmp_path / "s.yaml"))
