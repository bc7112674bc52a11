"""Tasks: built-in loaders and split conventions, procedural families, user specs, CLI listing."""
import json
import random
import re

import pytest

from flowforge.errors import DataError
from flowforge.tasks import get_task, list_tasks, task_names
from flowforge.tasks.builtin import BBH, BBH_HELDOUT, DATA
from flowforge.tasks.synth import FAMILIES, instance
from flowforge.tasks.synth.arith_word import make_with_expression

BBH_TRAIN = {"causal_judgement", "disambiguation_qa", "formal_fallacies", "logical_deduction_three_objects",
             "logical_deduction_seven_objects", "movie_recommendation", "multistep_arithmetic_two",
             "reasoning_about_colored_objects", "salient_translation_error_detection", "snarks",
             "tracking_shuffled_objects_three_objects", "tracking_shuffled_objects_five_objects"}


def test_builtin_split_sizes_training_splits_and_heldout_flags():
    s = {t.name: (t.splits, t.train_splits, t.heldout) for t in list_tasks()}
    assert s["gsm8k"] == ({"train": 7473, "validate": 264, "test": 1055}, ["train"], False)
    assert s["math"] == ({"validate": 119, "test": 486}, ["validate"], False)
    assert s["mbpp"] == ({"validate": 86, "test": 341}, ["validate"], False)
    assert s["humaneval"] == ({"test": 131}, [], True)
    assert s["drop"] == ({"validate": 200, "test": 400}, ["validate"], False)
    assert s["hotpotqa"] == ({"test": 200}, [], True)
    assert len(BBH) == 19 and set(BBH) == BBH_TRAIN | BBH_HELDOUT and not BBH_TRAIN & BBH_HELDOUT
    assert s["bbh/snarks"] == ({"train": 106, "test": 72}, ["train"], False)  # 178 rows, 60/40
    assert s["bbh/dyck_languages"] == ({"test": 250}, [], True)
    for name in task_names():  # held-out tasks never offer a training split
        assert not (s[name][2] and s[name][1]), name


def test_bbh_train_test_disjoint_and_cover_file():
    t = get_task("bbh/causal_judgement")
    train, test = t.load("train"), t.load("test")
    rows = [json.loads(l) for l in (DATA / "bbh" / "causal_judgement.jsonl").read_text().splitlines()]
    assert [i.problem for i in train + test] == [r["input"] for r in rows]
    assert {i.id for i in train}.isdisjoint({i.id for i in test})
    assert t.load("test", limit=2, offset=1)[0].id == test[1].id


def test_every_instance_has_problem_reference_and_bound_context():
    for t in list_tasks():
        split = next(iter(t.splits))
        for i in t.load(split, limit=3):
            assert i.problem.strip() and i.reference not in (None, "")
            assert i.context["answer_format"] == t.answer_format and i.context["domain"] == t.domain
            if t.domain == "code":
                assert re.fullmatch(r"[A-Za-z_]\w*", i.context["entry_point"])
                assert all(x.startswith("assert") for x in i.context["public_tests"])
            if t.domain == "qa":
                assert len(i.context["passages"]) >= 2


def test_gsm8k_train_reference_is_the_final_number():
    i = get_task("gsm8k").load("train", limit=1)[0]
    assert i.reference == "72" and "Natalia" in i.problem


def test_math_reference_is_the_boxed_answer():
    i = get_task("math").load("test", limit=1)[0]
    assert i.reference == "23" and get_task("math").score(r"\boxed{23}", i).value == 1.0


def test_mbpp_public_tests_are_repaired_and_own():
    t = get_task("mbpp")
    insts = {i.context["entry_point"]: i for s in ("validate", "test") for i in t.load(s)}
    assert sum(bool(i.context["public_tests"]) for i in insts.values()) >= 420 - 8
    for i in insts.values():  # visible tests name the function and are among the hidden ones
        for pt in i.context["public_tests"]:
            assert "candidate(" not in pt and pt in i.reference["tests"]
    ce = insts["common_in_nested_lists"].context["public_tests"][0]
    assert ce.startswith("assert set(common_in_nested_lists(")  # `set(` was mangled upstream
    assert "must be named `common_in_nested_lists`" in insts["common_in_nested_lists"].problem


def test_humaneval_public_tests_linked_by_problem_id():
    t = get_task("humaneval")
    insts = t.load("test")
    with_tests = [i for i in insts if i.context["public_tests"]]
    assert len(with_tests) == 127  # 4 problems have no visible tests upstream
    i = next(i for i in insts if i.context["entry_point"] == "triangle_area")
    assert i.context["public_tests"] == ["assert triangle_area(5, 3) == 7.5"]
    assert i.reference["tests"][0].rstrip().endswith("check(triangle_area)")


def test_drop_and_hotpotqa_problem_is_full_text_plus_passages():
    d = get_task("drop").load("test", limit=1)[0]
    assert d.problem.startswith("Passage:") and "\nQuestion:" in d.problem and not d.problem.endswith("Answer:")
    assert d.context["passages"][0] in d.problem and "Question:" not in " ".join(d.context["passages"])
    h = get_task("hotpotqa").load("test", limit=1)[0]
    assert h.context["passages"][0].startswith("Constantin Medien: ") and len(h.context["passages"]) == 10
    assert h.problem.endswith("What does their new acronym stand for?") and h.context["passages"][1] in h.problem


def test_descriptions_are_family_level():
    for t in list_tasks():
        i = t.load(next(iter(t.splits)), limit=1)[0]
        assert t.description and t.answer_format
        assert i.problem[:60] not in t.description
        assert str(i.reference) not in t.description.split() or len(str(i.reference)) < 3


# ---- procedural families ----------------------------------------------------------------------


@pytest.mark.parametrize("family", [f for f, fam in FAMILIES.items() if not fam.heldout])  # held out: test_curriculum
def test_synth_deterministic_and_split_dependent(family):
    t = get_task(f"synth/{family}")
    a, b = t.load("train", limit=3, offset=1000), t.load("train", limit=3, offset=1000)
    assert [(i.id, i.problem, i.reference) for i in a] == [(i.id, i.problem, i.reference) for i in b]
    assert instance(family, "train", 5).problem != instance(family, "test", 5).problem
    assert len({instance(family, "train", k).problem for k in range(50)}) == 50
    assert t.winning_operators and t.procedural and t.train_splits == ["train"]
    assert len(t.load("train", limit=2, offset=99_999)) == 1  # nominal size is the bound


def test_synth_arith_word_is_verifiable_and_needs_arithmetic():
    for k in range(200):
        inst, expr = make_with_expression(random.Random(k))
        assert eval(expr) == int(inst.reference) > 0  # the extract+calculate route gives the answer
    t = get_task("synth/arith_word")
    i = t.load("test", limit=1)[0]
    assert t.score(f"The answer is {i.reference}", i).value == 1.0
    # summing every number in the text (the naive strategy) is wrong
    nums = [int(x) for x in re.findall(r"\d+", i.problem)]
    assert t.score(str(sum(nums)), i).value == 0.0


def test_synth_list_ops_hidden_tests_hold_for_the_spec():
    t = get_task("synth/list_ops")
    for i in t.load("validate", limit=20):
        tests = i.reference["tests"]
        assert set(i.context["public_tests"]) < set(tests) and len(tests) >= 6
        assert all(x.startswith(f"assert {i.context['entry_point']}(") for x in tests)


def test_synth_passage_qa_answer_in_exactly_matching_sentence():
    t = get_task("synth/passage_qa")
    for i in t.load("train", limit=30):
        q = i.problem.rsplit("Question: ", 1)[1]
        entity = re.search(r"the (\w+ \w+)", q).group(1)  # invented names are two words
        hits = [p for p in i.context["passages"] if entity in p and i.reference in p]
        assert hits, (q, i.reference)
        assert len(i.context["passages"]) >= 24  # long passage, look-alike distractors
        assert t.score(i.reference, i).value == 1.0


def test_a_user_spec_task_loads_binds_context_and_scores(tmp_path):
    (tmp_path / "d.jsonl").write_text(
        '{"q": "Capital of France?", "a": "Paris", "paras": ["Paris is in France.", "Rome is in Italy."]}\n'
        '{"q": "Capital of Italy?", "a": "Rome", "paras": ["Rome is in Italy."]}\n')
    (tmp_path / "t.yaml").write_text(
        "name: capitals\ndomain: qa\ndescription: Capital cities.\nanswer_format: a city\nscorer: exact_match\n"
        "fields:\n  problem: 'Q: {q}'\n  reference: a\n  context:\n    passages: paras\n"
        "splits:\n  test: d.jsonl\n")
    t = get_task(str(tmp_path / "t.yaml"))
    assert t.splits == {"test": 2} and t.heldout  # user tasks are held out unless the spec says otherwise
    i = t.load("test")[1]
    assert (i.problem, i.reference, i.context["passages"]) == ("Q: Capital of Italy?", "Rome", ["Rome is in Italy."])
    assert t.score("Rome", i).value == 1.0 and t.score("Paris", i).value == 0.0


def test_cli_tasks_table_and_json():
    from typer.testing import CliRunner

    from flowforge.cli import app

    r = CliRunner().invoke(app, ["tasks", "--json"])
    assert r.exit_code == 0
    rows = {x["name"]: x for x in json.loads(r.output)}
    assert rows["hotpotqa"]["heldout"] and rows["gsm8k"]["splits"]["train"] == 7473 and len(rows) == 51
    r = CliRunner().invoke(app, ["tasks"], env={"COLUMNS": "160"})
    assert r.exit_code == 0 and "bbh/snarks" in r.output and "synth/list_ops" in r.output


def test_split_policy_lives_on_task():
    """Training draws from train_splits[0], tuning from validate else train (never test), smoke
    runs from a training split, else a tuning split, else test, and `sample` is a seeded window of
    consecutive instances: same seed, same instances."""
    gsm8k, mbpp, held = get_task("gsm8k"), get_task("mbpp"), get_task("bbh/hyperbaton")
    assert (gsm8k.training_split, gsm8k.tuning_split) == ("train", "validate")
    assert (mbpp.training_split, mbpp.tuning_split) == ("validate", "validate")
    assert held.tuning_split is None
    assert (gsm8k.smoke_split, mbpp.smoke_split, held.smoke_split) == ("train", "validate", "test")
    with pytest.raises(DataError, match="no training split"):
        held.training_split
    a, b, c = (gsm8k.sample("train", 3, s) for s in (7, 7, 8))
    assert [i.id for i in a] == [i.id for i in b] != [i.id for i in c] and len(a) == 3
    first = int(a[0].id.split("-")[-1])
    assert [i.id for i in a] == [f"train-{first + j}" for j in range(3)]
