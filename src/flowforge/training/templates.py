"""Workflow templates for synthetic SFT data, keyed by operator *implementation* (not name), so a
template renders correctly against any subset/renaming of an operator set that still offers the
implementations it needs.

A template is a render function `(names, params) -> source` plus its needs and its knobs: every
knob is a list of choices, and `sample_params` picks one of each (the "randomised small
variations"). `names.<impl>` is the operator's name in the active set.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

# Executor calls per instance (rough upper bound): synth caps the LLM-heavy ones per task.
TOOL, LIGHT, HEAVY = 0, 1, 3


class Names:
    """impl -> operator name in the active set, as attributes: `names.calculate`."""

    def __init__(self, mapping: dict[str, str]):
        self._m = dict(mapping)

    def __getattr__(self, impl: str) -> str:
        try:
            return self.__dict__["_m"][impl]
        except KeyError:
            raise AttributeError(impl) from None


@dataclass(frozen=True)
class Template:
    name: str
    needs: tuple[str, ...]
    domains: tuple[str, ...]  # domains it is tried on (others would waste executor time)
    cost: int  # TOOL / LIGHT / HEAVY
    knobs: dict[str, list]
    render: Callable[[Names, dict], str]

    def sample_params(self, rng: random.Random) -> dict:
        return {k: rng.choice(v) for k, v in sorted(self.knobs.items())}


def _finish(n: Names, var: str, v: dict) -> str:
    """The closing line(s): return as is, through format, or through extract."""
    if v["finish"] == "format":
        return f"    return await ops.{n.format}(solution={var})"
    if v["finish"] == "extract":
        return f"    return await ops.{n.extract}(text={var}, kind=\"{v['kind']}\")"
    return f"    return {var}"


def _needs_finish(v: dict) -> tuple[str, ...]:
    return {"format": ("format",), "extract": ("extract",)}.get(v.get("finish", ""), ())


COT = ["Think step by step, then give the final answer.", "Solve the problem carefully and state the answer at the end.",
       "Reason briefly, then write 'Answer:' followed by the answer."]
EXPR = ["Write one arithmetic expression that computes the answer. Reply with the expression only.",
        "Translate the problem into a single Python arithmetic expression. Only the expression.",
        "Give the calculation needed to get the answer as one expression, nothing else."]
CODE = ["Write the function.", "Write a correct, simple Python function for this task.",
        "Implement the function described in the problem."]
KINDS = ["span", "number", "option"]


def _direct(n, v):
    return "\n".join([
        "async def solve(problem, ops):", '    """Reason step by step, keep the final answer."""',
        f"    r = await ops.{n.answer_generate}(input=problem)", _finish(n, 'r["answer"]', v)])


def _cot(n, v):
    return "\n".join([
        "async def solve(problem, ops):", '    """Chain of thought, then reduce to the answer."""',
        f"    text = await ops.{n.generate}(instruction=\"{v['cot']}\", input=problem)", _finish(n, "text", v)])


def _ensemble(n, v):
    pick = (f"    best = await ops.{n.sc_ensemble}(solutions=answers)" if v["pick"] == "sc_ensemble"
            else f"    best = await ops.{n.vote}(answers=answers)")
    return "\n".join([
        "async def solve(problem, ops):", f'    """Self-consistency: {v["k"]} answers, then pick one."""',
        f"    answers = [(await ops.{n.answer_generate}(input=problem))[\"answer\"] for _ in range({v['k']})]",
        pick, _finish(n, "best", v)])


def _extract_calc(n, v):
    return "\n".join([
        "async def solve(problem, ops):", '    """Pull the expression out of the problem and evaluate it exactly."""',
        f"    expr = await ops.{n.extract}(text=problem, kind=\"expression\")",
        "    if expr:", f"        return await ops.{n.calculate}(expression=expr)",
        f"    r = await ops.{n.answer_generate}(input=problem)", '    return r["answer"]'])


def _translate_calc(n, v):
    return "\n".join([
        "async def solve(problem, ops):", '    """Have the model write the arithmetic, then compute it exactly."""',
        f"    text = await ops.{n.generate}(instruction=\"{v['expr']}\", input=problem)",
        f"    expr = await ops.{n.extract}(text=text, kind=\"expression\")",
        "    if expr:", f"        return await ops.{n.calculate}(expression=expr)",
        f"    return await ops.{n.extract}(text=text, kind=\"number\")"])


def _retrieve(n, v):
    return "\n".join([
        "async def solve(problem, ops):", '    """Retrieve the relevant passages, then answer from them."""',
        f"    passages = await ops.{n.retrieve}(query=problem, k={v['k']})",
        '    context = "\\n".join(passages)',
        f"    r = await ops.{n.answer_generate}(input=context + \"\\n\\nQuestion: \" + problem)",
        _finish(n, 'r["answer"]', v)])


def _code_direct(n, v):
    return "\n".join([
        "async def solve(problem, ops):", '    """Write the function directly."""',
        f"    return await ops.{n.code_generate}(instruction=\"{v['code']}\")"])


def _code_test(n, v):
    return "\n".join([
        "async def solve(problem, ops):", '    """Write code, then test and repair it on the public tests."""',
        f"    code = await ops.{n.code_generate}(instruction=\"{v['code']}\")",
        f"    result = await ops.{n.test}(solution=code)", '    return result["solution"]'])


def _code_retry(n, v):
    return "\n".join([
        "async def solve(problem, ops):", f'    """Up to {v["tries"]} attempts; keep the first that passes the public tests."""',
        "    code = \"\"", f"    for _ in range({v['tries']}):",
        f"        code = await ops.{n.code_generate}(instruction=\"{v['code']}\")",
        f"        check = await ops.{n.run_tests}(solution=code)", '        if check["passed"]:', "            return code",
        "    return code"])


def _programmer(n, v):
    return "\n".join([
        "async def solve(problem, ops):", '    """Compute the answer with a program; fall back to reasoning."""',
        f"    run = await ops.{n.programmer}(analysis=problem)", '    if run["output"]:',
        f"        return await ops.{n.extract}(text=run[\"output\"], kind=\"{v['kind']}\")",
        f"    r = await ops.{n.answer_generate}(input=problem)", '    return r["answer"]'])


def _review_revise(n, v):
    return "\n".join([
        "async def solve(problem, ops):", '    """Answer, review the answer, revise once if the review objects."""',
        f"    r = await ops.{n.answer_generate}(input=problem)", '    answer = r["answer"]',
        f"    verdict = await ops.{n.review}(solution=r[\"thought\"] + \"\\nAnswer: \" + answer)",
        '    if not verdict["ok"]:',
        f"        answer = await ops.{n.revise}(solution=answer, feedback=verdict[\"feedback\"])",
        _finish(n, "answer", v)])


_FINISH = {"finish": ["plain", "format", "extract"], "kind": KINDS}

TEMPLATES: list[Template] = [
    Template("direct", ("answer_generate",), ("math", "qa", "reasoning"), LIGHT, _FINISH, _direct),
    Template("cot_format", ("generate",), ("math", "qa", "reasoning"), LIGHT, {**_FINISH, "cot": COT}, _cot),
    Template("self_consistency", ("answer_generate",), ("math", "qa", "reasoning"), HEAVY,
             {**_FINISH, "k": [3, 5], "pick": ["vote", "sc_ensemble"]}, _ensemble),
    Template("extract_calculate", ("extract", "calculate", "answer_generate"), ("math", "reasoning", "qa"), TOOL, {}, _extract_calc),
    Template("translate_calculate", ("generate", "extract", "calculate"), ("math", "reasoning"), LIGHT, {"expr": EXPR}, _translate_calc),
    Template("retrieve_answer", ("retrieve", "answer_generate"), ("qa",), LIGHT, {**_FINISH, "k": [1, 2, 3]}, _retrieve),
    Template("code_direct", ("code_generate",), ("code",), LIGHT, {"code": CODE}, _code_direct),
    Template("code_test", ("code_generate", "test"), ("code",), HEAVY, {"code": CODE}, _code_test),
    Template("code_run_tests", ("code_generate", "run_tests"), ("code",), HEAVY, {"code": CODE, "tries": [2, 3]}, _code_retry),
    Template("programmer", ("programmer", "extract", "answer_generate"), ("math", "reasoning"), HEAVY,
             {"kind": ["number", "span"]}, _programmer),
    Template("review_revise", ("answer_generate", "review", "revise"), ("math", "qa", "reasoning"), HEAVY,
             _FINISH, _review_revise),
]
BY_NAME = {t.name: t for t in TEMPLATES}


def needs(template: Template, params: dict) -> tuple[str, ...]:
    """Every implementation a rendered template calls (its fixed needs plus its finish, pick...)."""
    extra = _needs_finish(params) + ((params["pick"],) if "pick" in params else ())
    return tuple(dict.fromkeys(template.needs + extra))


def render(template: Template, params: dict, names: dict[str, str]) -> str:
    """Source for `params` against an operator set given as impl -> name."""
    return template.render(Names(names), params) + "\n"
