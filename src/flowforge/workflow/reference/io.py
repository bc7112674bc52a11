async def solve(problem, ops):
    """IO: ask the executor once for the answer."""
    result = await ops.answer_generate(input=problem)
    return result["answer"]
