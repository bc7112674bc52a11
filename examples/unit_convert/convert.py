async def solve(problem, ops):
    """Exact conversion with the user's own tool operator; no executor call."""
    return await ops.convert_units(text=problem)
