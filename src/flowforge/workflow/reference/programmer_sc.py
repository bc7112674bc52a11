async def solve(problem, ops):
    """Math: three programs compute the answer; keep the ones that ran, then vote."""
    runs = await gather(*[ops.programmer(analysis="Compute the final number.") for _ in range(3)])
    outputs = [r["output"] for r in runs if r["output"]]
    if not outputs:
        result = await ops.answer_generate(input=problem)
        return result["answer"]
    return await ops.extract(text=await ops.vote(answers=outputs), kind="number")
