async def solve(problem, ops):
    """Chain of thought: reason step by step, then reduce to the bare answer."""
    result = await ops.answer_generate(input=problem)
    return await ops.format(solution=result["thought"] + "\nAnswer: " + result["answer"])
