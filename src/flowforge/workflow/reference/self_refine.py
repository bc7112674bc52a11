async def solve(problem, ops):
    """Self-refine: answer, then up to two rounds of review and revision."""
    result = await ops.answer_generate(input=problem)
    solution = result["thought"] + "\nAnswer: " + result["answer"]
    for _ in range(2):
        verdict = await ops.review(solution=solution)
        if verdict["ok"]:
            break
        solution = await ops.revise(solution=solution, feedback=verdict["feedback"])
    return await ops.format(solution=solution)
