"""Synthetic-data building: templates render and validate under every operator-set augmentation,
held-out tasks are refused, selection ranks by score and balances across tasks."""
import ast
import random

import pytest

from flowforge.errors import UserError
from flowforge.operators import load_operator_set
from flowforge.training import templates as T
from flowforge.operators.augment import AUG_KINDS, SYNONYMS, augment_opset, impl_names, random_name, rename_ops
from flowforge.training.synth import SynthConfig, select_top, sft_pairs, template_candidates, training_tasks
from flowforge.workflow import operators_used


def called_ops(source: str) -> list[str]:
    return operators_used(ast.parse(source))

HELDOUT = ["hotpotqa", "humaneval", "bbh/boolean_expressions", "bbh/dyck_languages", "bbh/geometric_shapes",
           "bbh/hyperbaton", "bbh/ruin_names", "bbh/temporal_sequences", "bbh/tracking_shuffled_objects_seven_objects"]


@pytest.fixture(scope="module")
def base():
    return load_operator_set("default")


def test_every_template_variation_validates_on_default_set(base):
    from flowforge.generator.parse import parse_workflow

    rng = random.Random(0)
    names = impl_names(base)
    for t in T.TEMPLATES:
        for _ in range(8):
            params = t.sample_params(rng)
            src = T.render(t, params, names)
            parsed = parse_workflow(src, base)
            assert parsed.valid, (t.name, params, parsed.error)
            assert set(called_ops(src)) <= {names[i] for i in T.needs(t, params)}


@pytest.mark.parametrize("kind", AUG_KINDS)
def test_augmented_sets_keep_workflows_valid(base, kind):
    from flowforge.generator.parse import parse_workflow

    rng = random.Random(1)
    names = impl_names(base)
    renamed_any = False
    for t in T.TEMPLATES:
        src = T.render(t, t.sample_params(rng), names)
        used = called_ops(src)
        opset, mapping = augment_opset(base, used, rng, kind)
        new_src = rename_ops(src, mapping)
        parsed = parse_workflow(new_src, opset)
        assert parsed.valid, (kind, t.name, parsed.error)
        if mapping:
            renamed_any = True
            assert all(f"ops.{old}(" not in new_src for old in mapping if old in used)
            assert all(old not in opset.names for old in mapping)
            # the original (unrenamed) workflow must now be rejected: names really changed
            if set(mapping) & set(used):
                assert not parse_workflow(src, opset).valid
        if kind in ("subset", "mixed"):
            assert set(called_ops(new_src)) <= set(opset.names)
    if kind in ("renamed", "mixed"):
        assert renamed_any


def test_renamed_descriptions_are_consistent(base):
    rng = random.Random(3)
    opset, mapping = augment_opset(base, ["review", "revise"], rng, "renamed")
    assert mapping
    text = opset.describe()
    for old, new in mapping.items():
        assert f"{new}(" in text and f"`{old}`" not in text


def test_synonyms_never_use_evaluation_only_names():
    novel = set(load_operator_set("novel").names)
    assert not novel & {s for syns in SYNONYMS.values() for s in syns}


def test_renamings_are_varied_and_never_evaluation_only(base):
    novel = set(load_operator_set("novel").names)
    rng = random.Random(0)
    produced: set[str] = set()
    for _ in range(200):
        opset, mapping = augment_opset(base, ["answer_generate"], rng, "renamed")
        produced |= set(mapping.values())
        assert len(set(opset.names)) == len(opset.names)  # no two operators share a name
    assert not produced & novel
    # far more names than the fixed synonym lists: the generator cannot memorise the renamings
    assert len(produced) > 2 * sum(len(v) for v in SYNONYMS.values())


def test_random_name_avoids_taken_names():
    rng = random.Random(0)
    taken = {"a"}
    for _ in range(100):
        name = random_name("vote", rng, taken)
        assert name is not None and name not in taken and name.isidentifier()
        taken.add(name)


def test_synth_refuses_heldout_tasks():
    for name in HELDOUT:
        with pytest.raises(UserError, match="held out"):
            training_tasks([name])


def test_default_training_tasks_exclude_heldout():
    names = {t.name for t in training_tasks()}
    assert not names & set(HELDOUT)
    assert {"gsm8k", "math", "mbpp", "drop", "bbh/snarks"} <= names
    assert any(n.startswith("synth/") for n in names)
    assert sum(n.startswith("bbh/") for n in names) == 12


def test_template_candidates_fit_domain_and_cap_heavy(base):
    from flowforge.tasks import get_task

    cfg = SynthConfig(candidates_per_task=8, max_heavy_per_task=1)
    code = template_candidates(get_task("mbpp"), base, cfg)
    assert code and all(c.template.startswith("code") for c in code)
    math_c = template_candidates(get_task("gsm8k"), base, cfg)
    heavy = [c for c in math_c if T.BY_NAME[c.template].cost == T.HEAVY]
    assert len(heavy) <= 1 and len(math_c) == 8 and len({c.key for c in math_c}) == 8
    assert "extract_calculate" in {c.template for c in math_c}


def test_select_top_ranks_by_score_then_tokens_and_skips_invalid():
    recs = [{"key": "a", "task": "t", "valid": True, "score": 0.5, "tokens": 10},
            {"key": "b", "task": "t", "valid": True, "score": 1.0, "tokens": 99},
            {"key": "c", "task": "t", "valid": True, "score": 1.0, "tokens": 5},
            {"key": "d", "task": "t", "valid": False, "score": None},
            {"key": "e", "task": "u", "valid": True, "score": None},  # unscored: infrastructure failure
            {"key": "f", "task": "u", "valid": True, "score": 0.0, "tokens": 1}]
    top = select_top(recs, top_m=2, min_score=0.0)
    assert [r["key"] for r in top["t"]] == ["c", "b"]
    assert [r["key"] for r in top["u"]] == ["f"]


def test_select_top_drops_candidates_that_crashed_on_any_instance():
    recs = [{"key": "a", "task": "t", "valid": True, "score": 0.9, "errors": 1, "tokens": 1},  # best, but crashed once
            {"key": "b", "task": "t", "valid": True, "score": 0.5, "errors": 0, "tokens": 1}]
    assert [r["key"] for r in select_top(recs, top_m=2, min_score=0.0)["t"]] == ["b"]


def test_sft_pairs_carry_provenance_and_use_generator_prompt(base):
    from flowforge.generator.prompt import SYSTEM, WORKFLOW
    from flowforge.tasks import get_task

    task = get_task("synth/arith_word")
    t = T.BY_NAME["extract_calculate"]
    rec = {"key": "k1", "template": t.name, "params": {}, "source": T.render(t, {}, impl_names(base)),
           "score": 1.0, "scores": [1, 1, 1], "k": 3, "executor": "embedded"}
    rows = sft_pairs(rec, task, base, n_variants=6, seed=0)
    assert len(rows) == 6 and rows[0]["meta"]["augment"] == "base"
    assert all(r["prompt"][0]["content"] == SYSTEM and task.description.strip() in r["prompt"][1]["content"] for r in rows)
    assert all(r["completion"].startswith("```python\nasync def solve") for r in rows)
    assert {r["meta"]["task"] for r in rows} == {"synth/arith_word"} and rows[0]["meta"]["score"] == 1.0
    # the base prompt is the one `flowforge generate` writes: no operator the task cannot serve (retrieve: no passages)
    assert rows[0]["prompt"] == WORKFLOW.messages(task.description, task.answer_format, base.for_task(task))
    assert "retrieve" in base.names and all("- retrieve(" not in r["prompt"][1]["content"] for r in rows)


def test_run_synth_end_to_end_and_resume(tmp_path):
    import json

    from fakes import FakeLLM
    from flowforge.training.synth import run_synth

    llm = FakeLLM(lambda m: "Answer: 12")
    cfg = SynthConfig(out_dir=tmp_path, tasks=["synth/arith_word", "bbh/snarks"], k=2, candidates_per_task=4,
                      top_m=2, augment=3, baseline=None, compositions=False)
    s = run_synth(cfg, executor=llm, show=False)
    cands = [json.loads(line) for line in (tmp_path / "candidates.jsonl").read_text().splitlines()]
    assert s["candidates_run"] == len(cands) == 8 and s["ran_this_session"] == 8
    assert all(c["valid"] and c["k"] == 2 and len(c["instances"]) == 2 for c in cands)
    # every candidate of a task ran on the same instances
    assert len({tuple(c["instances"]) for c in cands if c["task"] == "bbh/snarks"}) == 1
    rows = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert rows and {r["meta"]["task"] for r in rows} == {"synth/arith_word", "bbh/snarks"}
    assert max(sum(r["meta"]["task"] == t for r in rows) for t in ("synth/arith_word", "bbh/snarks")) <= 2 * 3
    crashed = {c["key"] for c in cands if c["errors"]}
    assert s["dropped_crashed"] == len(crashed) and not {r["meta"]["candidate"] for r in rows} & crashed
    best = max(c["score"] for c in cands if c["task"] == "synth/arith_word" and not c["errors"])
    assert any(r["meta"]["score"] == best for r in rows if r["meta"]["task"] == "synth/arith_word")
    n_calls = len(llm.calls)
    s2 = run_synth(cfg, executor=llm, show=False)  # resume: nothing reruns
    assert s2["ran_this_session"] == 0 and len(llm.calls) == n_calls and s2["sft_examples"] == s["sft_examples"]
    # the SFT file does not depend on the order in which candidates finished
    first = (tmp_path / "sft.jsonl").read_text()
    lines = (tmp_path / "candidates.jsonl").read_text().splitlines()
    (tmp_path / "candidates.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    run_synth(cfg, executor=llm, show=False)
    assert (tmp_path / "sft.jsonl").read_text() == first


def test_run_synth_drops_candidates_that_crash_and_counts_them(tmp_path):
    import json

    from fakes import FakeLLM
    from flowforge.training.synth import run_synth

    crashing = "```python\nasync def solve(problem, ops):\n    return await ops.calculate(expression=problem + '/0')\n```"
    cfg = SynthConfig(out_dir=tmp_path, tasks=["synth/arith_word"], k=2, candidates_per_task=2, top_m=4, augment=1,
                      teacher="fake-teacher", teacher_samples=1, baseline=None, compositions=False)
    s = run_synth(cfg, executor=FakeLLM(lambda m: "Answer: 12"), teacher=FakeLLM(lambda m: crashing), show=False)
    cands = [json.loads(line) for line in (tmp_path / "candidates.jsonl").read_text().splitlines()]
    teacher = [c for c in cands if c["template"] == "teacher"]
    assert len(teacher) == 1 and teacher[0]["valid"] and teacher[0]["errors"] == 2
    assert s["dropped_crashed"] == sum(bool(c["errors"]) for c in cands) >= 1
    rows = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert rows and all(r["meta"]["template"] != "teacher" for r in rows)


def test_select_top_keeps_only_what_beats_the_baseline():
    recs = [{"key": "io", "task": "t", "template": "baseline:io", "valid": True, "score": 0.5, "tokens": 1},
            {"key": "a", "task": "t", "template": "x", "valid": True, "score": 0.5, "tokens": 1},  # a tie does not beat it
            {"key": "b", "task": "t", "template": "x", "valid": True, "score": 0.75, "tokens": 1},
            {"key": "c", "task": "u", "template": "x", "valid": True, "score": 0.0, "tokens": 1}]  # no baseline: no gate
    top = select_top(recs, top_m=4, min_score=0.0)
    assert [r["key"] for r in top["t"]] == ["b"] and [r["key"] for r in top["u"]] == ["c"]


def test_curriculum_synth_offers_training_compositions_never_heldout_winners(tmp_path):
    import json

    from fakes import FakeLLM
    from flowforge.tasks.synth import HELDOUT
    from flowforge.tasks.synth.compositions import COMPOSITIONS, HELDOUT_WINNERS
    from flowforge.training.synth import run_synth

    assert set(HELDOUT_WINNERS) == set(HELDOUT) and set(HELDOUT_WINNERS.values()) <= set(COMPOSITIONS)
    cfg = SynthConfig(out_dir=tmp_path, tasks=["synth/table_lookup"], k=4, candidates_per_task=1, top_m=2, augment=1)
    s = run_synth(cfg, executor=FakeLLM(lambda m: "Answer: nothing"), show=False)
    cands = [json.loads(line) for line in (tmp_path / "candidates.jsonl").read_text().splitlines()]
    offered = {c["template"] for c in cands}
    assert "baseline:io" in offered and "comp:table_cell" in offered
    assert not {f"comp:{w}" for w in HELDOUT_WINNERS.values()} & offered
    base = next(c["score"] for c in cands if c["template"] == "baseline:io")
    rows = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert rows and all(r["meta"]["score"] > base for r in rows) and base == 0.0
    assert "comp:table_cell" in {r["meta"]["template"] for r in rows}  # the tool composition wins without the LLM
    assert s["per_task"]["synth/table_lookup"]["baseline"] == base


def test_a_baseline_that_is_not_a_reference_workflow_is_one_line():
    from flowforge.errors import UserError

    with pytest.raises(UserError, match="unknown reference workflow 'nope'"):
        SynthConfig(baseline="nope")
    assert SynthConfig(baseline="none").baseline is None
