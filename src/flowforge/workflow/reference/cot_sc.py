async def solve(problem, ops):
    """CoT self-consistency: 5 concurrent samples, majority vote."""
    samples = await gather(*[ops.answer_generate(input=problem) for _ in range(5)])
    return await ops.vote(answers=[s["answer"] for s in samples])
