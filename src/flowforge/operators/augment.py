"""Operator-set augmentation: variants of a set that a workflow still runs under unchanged
(subsets that keep what it calls, shuffled order, consistent renamings), used to build SFT data
and RL prompts so the generator reads each prompt's operator list instead of memorising one.

The names produced never overlap the evaluation-only `novel` set.
"""
from __future__ import annotations

import ast
import functools
import random
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowforge.operators import OperatorSet

AUG_KINDS = ("subset", "shuffled", "renamed", "mixed")

# Names used when renaming operators. Neither these nor the procedural names below may overlap
# the evaluation-only `novel` operator set (tested, and filtered at sampling time).
SYNONYMS: dict[str, list[str]] = {
    "generate": ["llm_call", "respond", "complete_text", "instruct"],
    "answer_generate": ["think_then_answer", "solve_step", "cot_answer", "answer_question"],
    "code_generate": ["make_function", "synthesize_code", "draft_code"],
    "programmer": ["program_and_run", "code_solver", "execute_program"],
    "test": ["test_and_repair", "debug_with_tests", "fix_until_pass"],
    "sc_ensemble": ["self_consistency", "choose_consensus", "ensemble_pick"],
    "review": ["assess", "judge_solution", "inspect_answer"],
    "revise": ["rewrite", "amend", "correct_solution"],
    "format": ["final_answer", "clean_answer", "to_answer_format"],
    "calculate": ["compute", "arith", "calc"],
    "retrieve": ["find_passages", "lookup", "bm25_search"],
    "extract": ["grab", "parse_out", "extract_field"],
    "vote": ["most_common", "plurality", "tally"],
    "run_tests": ["check_tests", "public_tests", "try_tests"],
}

# Procedural names: generic verbs and nouns, so a renamed set cannot be learnt by heart and the
# generator has to read each operator's description to know what it does.
VERBS = ["run", "get", "make", "do", "apply", "call", "use", "invoke", "produce", "handle", "process", "perform"]
NOUNS = ["step", "tool", "stage", "unit", "module", "skill", "action", "routine", "helper", "block", "node", "task"]

_OPS_CALL = re.compile(r"\bops\.([A-Za-z_]\w*)\b")


def random_name(impl: str, rng: random.Random, taken: set[str]) -> str | None:
    """A fresh operator name for `impl`: a synonym (half the time), a verb_noun compound, or an
    opaque `noun_N`. None when every draw collides with `taken`."""
    for _ in range(20):
        r = rng.random()
        syns = SYNONYMS.get(impl, [])
        if r < 0.5 and syns:
            name = rng.choice(syns)
        elif r < 0.8:
            name = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"
        else:
            name = f"{rng.choice(NOUNS)}_{rng.randint(1, 99)}"
        if name not in taken:
            return name
    return None


def impl_names(opset: "OperatorSet") -> dict[str, str]:
    """impl -> operator name (the first operator backed by each impl)."""
    out: dict[str, str] = {}
    for op in opset.operators:
        out.setdefault(op.impl, op.name)
    return out


def rename_ops(source: str, mapping: dict[str, str]) -> str:
    """Rewrite `ops.old` calls to `ops.new` (AST-checked: the result must still parse)."""
    out = _OPS_CALL.sub(lambda m: f"ops.{mapping.get(m.group(1), m.group(1))}", source)
    ast.parse(out)
    return out


def augment_opset(base: "OperatorSet", used: list[str], rng: random.Random, kind: str) -> tuple["OperatorSet", dict[str, str]]:
    """One operator-set variant: 'base', 'subset', 'shuffled', 'renamed' or 'mixed' (all three).
    Returns the variant and the renaming to apply to the workflow's `ops.` calls."""
    opset, mapping = base, {}
    if kind in ("subset", "mixed"):
        others = [n for n in base.names if n not in used]
        keep = set(used) | set(rng.sample(others, rng.randint(0, len(others))))
        opset = opset.subset([n for n in base.names if n in keep], name=f"{base.name}-subset")
    if kind in ("renamed", "mixed"):
        taken = set(opset.names) | _evaluation_only_names()
        rate = rng.choice((0.5, 0.8, 1.0))
        for op in opset.operators:
            if rng.random() < rate and (name := random_name(op.impl, rng, taken)):
                mapping[op.name] = name
                taken.add(name)
        opset = opset.renamed(mapping, name=f"{base.name}-renamed") if mapping else opset
    if kind in ("shuffled", "mixed"):
        opset = opset.shuffled(rng)
    return opset, mapping


@functools.cache
def _evaluation_only_names() -> frozenset[str]:
    """Names of the `novel` set: zero-shot evaluation only, never produced by augmentation."""
    from flowforge.operators import load_operator_set

    return frozenset(load_operator_set("novel").names)
