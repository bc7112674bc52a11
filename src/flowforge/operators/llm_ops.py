"""Executor-backed operators (AFlow's Custom, AnswerGenerate, ScEnsemble, Review, Revise, Format,
plus decompose/verify for the new-operator set). Each: short prompt with an explicit output
format -> one executor call -> forgiving parse."""
from __future__ import annotations

import re

from flowforge import answers as parse
from flowforge.operators.context import OperatorError, OpContext
from flowforge.operators.tools import vote

_CLIP = 600  # characters of a solution shown back to the executor


def _fmt_hint(ctx: OpContext) -> str:
    return f"\nThe answer must be {ctx.answer_format}." if ctx.answer_format else ""


def _answer_of(ctx: OpContext, text: str) -> str:
    hit = parse.field(text, "answer")
    if hit:
        return hit
    if ctx.context.get("domain") == "math":
        return parse.last_number(text) or parse.last_line(text)
    return parse.last_line(text)


def _verdict(text: str, note: str) -> dict:
    """{"ok": the `Verdict:` line (else the whole reply) read as yes/no, note: its `<note>:` line
    (else the whole reply)}."""
    verdict = parse.field(text, "verdict")
    ok = parse.yes_no(verdict if verdict is not None else text)
    return {"ok": bool(ok), note: parse.field(text, note) or text.strip()}


async def generate(ctx: OpContext, instruction: str, input: str) -> str:
    """Free-form: follow `instruction` on `input`; the reply text."""
    return (await ctx.ask(f"{instruction}\n\n{input}", max_tokens=256)).strip()


async def answer_generate(ctx: OpContext, input: str) -> dict:
    """Step-by-step reasoning then a final answer line."""
    prompt = (f"{input}\n\nThink step by step. Then write the final answer on the last line as:\n"
              f"Answer: <answer>{_fmt_hint(ctx)}")
    text = await ctx.ask(prompt, max_tokens=256)
    return {"thought": parse.before(text, "answer"), "answer": _answer_of(ctx, text)}


async def sc_ensemble(ctx: OpContext, solutions: list) -> str:
    """The executor picks the answer most consistent with the others; majority if unparseable."""
    if isinstance(solutions, str) or not solutions:
        raise OperatorError("sc_ensemble: solutions must be a non-empty list")
    sols = [str(s.get("answer", s)) if isinstance(s, dict) else str(s) for s in solutions]
    if len(set(map(parse.vote_key, sols))) == 1:
        return sols[0]
    letters = "ABCDEFGHIJ"[: len(sols)]
    listing = "\n".join(f"({c}) {s[:_CLIP]}" for c, s in zip(letters, sols))
    prompt = (f"Problem: {ctx.problem}\n\nCandidate solutions:\n{listing}\n\n"
              "Which candidate agrees most with the others? Reply with its letter only.\nLetter:")
    text = await ctx.ask(prompt, max_tokens=8)
    hit = re.search(rf"\b([{letters}])\b", text.upper())
    return sols[letters.index(hit.group(1))] if hit else await vote(ctx, sols)


async def review(ctx: OpContext, solution: str) -> dict:
    """Verdict on a solution plus one line of feedback."""
    prompt = (f"Problem: {ctx.problem}\n\nProposed solution:\n{str(solution)[:_CLIP]}\n\n"
              "Is the solution correct? Reply exactly:\nVerdict: yes or no\nFeedback: <one sentence>")
    return _verdict(await ctx.ask(prompt, max_tokens=96), "feedback")


async def revise(ctx: OpContext, solution: str, feedback: str) -> str:
    """A corrected solution, ending with an Answer line."""
    prompt = (f"Problem: {ctx.problem}\n\nSolution:\n{str(solution)[:_CLIP]}\n\nFeedback: {feedback}\n\n"
              f"Write a corrected solution. End with the line 'Answer: <answer>'.{_fmt_hint(ctx)}")
    return (await ctx.ask(prompt, max_tokens=256)).strip()


async def format(ctx: OpContext, solution: str) -> str:
    """The bare final answer (code tasks: the program) in the task's answer format."""
    solution = str(solution)
    if ctx.context.get("domain") == "code":
        return parse.code(solution, ctx.context.get("entry_point"))
    short = solution.strip()
    if "\n" not in short and len(short) <= 60 and not parse.field(short, "answer"):
        return short  # already bare: no call
    prompt = (f"Problem: {ctx.problem}\n\nSolution:\n{solution[-_CLIP:]}\n\n"
              f"Give only the final answer, nothing else.{_fmt_hint(ctx)}\nAnswer:")
    text = parse.last_line((await ctx.ask(prompt, max_tokens=32)).split("\n\n")[0])
    return (parse.field(text, "answer") or text).strip() or _answer_of(ctx, solution)


async def decompose(ctx: OpContext, problem: str) -> list[str]:
    """Up to four sub-questions, in order."""
    prompt = (f"{problem}\n\nSplit this problem into at most 4 short sub-questions, "
              "one per line, numbered 1., 2., ...")
    text = await ctx.ask(prompt, max_tokens=128)
    steps = [re.sub(r"^\s*(?:\d+[\.\)]|[-*])\s*", "", ln).strip() for ln in text.splitlines()]
    steps = [s for s in steps if len(s) > 3][:4]
    return steps or [str(problem)]


async def verify(ctx: OpContext, problem: str, answer: str) -> dict:
    """Whether `answer` solves `problem`, with a short reason."""
    prompt = (f"Problem: {problem}\n\nAnswer: {str(answer)[:_CLIP]}\n\n"
              "Does the answer solve the problem? Reply exactly:\nVerdict: yes or no\nReason: <one sentence>")
    return _verdict(await ctx.ask(prompt, max_tokens=96), "reason")

