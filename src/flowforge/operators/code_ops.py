"""Operators that write or run code: code_generate, programmer, test, run_tests.
Model-written code runs only through flowforge.sandbox."""
from __future__ import annotations

from flowforge import answers as parse
from flowforge.operators.context import OperatorError, OpContext

_CODE_ONLY = "Reply with code only, in one ```python block."


def _public_tests(ctx: OpContext) -> list[str]:
    tests = ctx.context.get("public_tests")
    if not tests:
        raise OperatorError("this instance has no public tests")
    return [tests] if isinstance(tests, str) else list(tests)


async def code_generate(ctx: OpContext, instruction: str) -> str:
    """A program for the instance's problem (defining its entry point)."""
    entry = ctx.context.get("entry_point")
    fn = f"\nDefine the function `{entry}`." if entry else ""
    text = await ctx.ask(f"{ctx.problem}\n\n{instruction}{fn}\n{_CODE_ONLY}", max_tokens=384)
    return parse.code(text, entry)


async def programmer(ctx: OpContext, analysis: str) -> dict:
    """Write a program that prints the answer, run it (one repair on failure)."""
    from flowforge.sandbox import arun

    prompt = (f"Problem: {ctx.problem}\n\nNotes: {str(analysis)[:600]}\n\n"
              f"Write a short Python program that computes the answer and prints it. {_CODE_ONLY}")
    program, output = "", ""
    for _ in range(2):
        program = parse.code(await ctx.ask(prompt, max_tokens=256))
        res = await arun(program)
        if res.success and res.stdout.strip():
            output = parse.last_line(res.stdout)
            break
        err = res.message or res.error or "no output"
        prompt += f"\n\nThis program failed:\n```python\n{program}\n```\nError: {err[-300:]}\nFix it."
    return {"code": program, "output": output}


async def run_tests(ctx: OpContext, solution: str) -> dict:
    """Run the instance's public tests on `solution`."""
    from flowforge.sandbox import CODE_PRELUDE, arun_tests

    res = await arun_tests(CODE_PRELUDE + str(solution), _public_tests(ctx), entry_point=ctx.context.get("entry_point"),
                           setup=CODE_PRELUDE)
    return {"passed": bool(res.success), "feedback": "all public tests pass" if res.success
            else (res.message or res.error or "tests failed")}


async def test(ctx: OpContext, solution: str) -> dict:
    """Run public tests; on failure ask the executor for a fix, up to two rounds."""
    entry = ctx.context.get("entry_point")
    solution = parse.code(str(solution), entry)
    result = await run_tests(ctx, solution)
    for _ in range(2):
        if result["passed"]:
            break
        prompt = (f"{ctx.problem}\n\nThis code fails a test:\n```python\n{solution}\n```\n"
                  f"Failure: {result['feedback'][-300:]}\nWrite the fixed code. {_CODE_ONLY}")
        solution = parse.code(await ctx.ask(prompt, max_tokens=384), entry)
        result = await run_tests(ctx, solution)
    return {"passed": result["passed"], "solution": solution, "feedback": result["feedback"]}
