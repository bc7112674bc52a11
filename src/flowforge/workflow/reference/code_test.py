async def solve(problem, ops):
    """Code: write a solution, run the public tests and repair it on failure."""
    code = await ops.code_generate(instruction="Solve the task in Python.")
    try:
        checked = await ops.test(solution=code)
        return checked["solution"]
    except Exception:
        return code
