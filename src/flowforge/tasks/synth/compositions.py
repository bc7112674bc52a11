'''Reference compositions for the curriculum: one workflow per distinct strategy, written against
the default operator set. They are the oracle's candidate pool (benchmarks/curriculum.py picks the
best per family on validate) and show that every family has a composition that wins. Each is
named by what it does, not by the family it was written for: every one runs on every family.'''
from __future__ import annotations

_Q = '    q = problem.split("Question:")[-1]\n'

COMPOSITIONS: dict[str, str] = {
    "extract_calculate": '''async def solve(problem, ops):
    """Pull the arithmetic expression out of the problem and evaluate it exactly."""
    expr = await ops.extract(text=problem, kind="expression")
    return await ops.calculate(expression=expr)
''',
    "claims_count": '''async def solve(problem, ops):
    """Evaluate each 'label: expression' line with the calculator and count the true ones."""
    lines = [ln.split(":")[-1] for ln in problem.splitlines() if ":" in ln]
    values = [await ops.calculate(expression=await ops.extract(text=ln, kind="expression")) for ln in lines]
    return str(len([v for v in values if v == "True"]))
''',
    "options_extreme": '''async def solve(problem, ops):
    """Evaluate each lettered option's expression and return the letter of the largest or smallest."""
    options = [ln for ln in problem.splitlines() if ln.startswith("(")]
    values = []
    for ln in options:
        values.append(float(await ops.calculate(expression=ln[3:])))
    pick = min(values) if "smallest" in problem else max(values)
    return options[values.index(pick)][:3]
''',
    "bullets_product_sum": '''async def solve(problem, ops):
    """For each '- ' line multiply its numbers, then add up the lines."""
    lines = [ln for ln in problem.splitlines() if ln.startswith("- ")]
    parts = []
    for ln in lines:
        nums = await ops.find_all(text=ln, kind="number")
        parts.append(await ops.calculate(expression=" * ".join(nums)))
    return await ops.calculate(expression=" + ".join(parts))
''',
    "numbers_product": '''async def solve(problem, ops):
    """Multiply every number in the problem together."""
    nums = await ops.find_all(text=problem, kind="number")
    return await ops.calculate(expression=" * ".join(nums))
''',
    "numbers_first_minus_rest": '''async def solve(problem, ops):
    """The first number minus all the others."""
    nums = await ops.find_all(text=problem, kind="number")
    return await ops.calculate(expression=" - ".join(nums))
''',
    "numbers_next_term": '''async def solve(problem, ops):
    """Continue the sequence by its last step."""
    nums = await ops.find_all(text=problem, kind="number")
    return await ops.calculate(expression=f"{nums[-1]} + ({nums[-1]} - {nums[-2]})")
''',
    "numbers_scale": '''async def solve(problem, ops):
    """Scale proportionally: the larger of the first two numbers, times the third, over the smaller."""
    nums = [float(x) for x in await ops.find_all(text=problem, kind="number")]
    big, small = max(nums[0], nums[1]), min(nums[0], nums[1])
    return await ops.calculate(expression=f"{big} * {nums[2]} / {small}")
''',
    "retrieve_count": '''async def solve(problem, ops):
    """Count the passages that mention the last name in the question together with its verb's stem."""
''' + _Q + '''    who = (await ops.find_all(text=q, kind="name"))[-1]
    hits = await ops.retrieve(query=q, k=100)
    return str(len([h for h in hits if who in h and "design" in h]))
''',
    "numbers_vote": '''async def solve(problem, ops):
    """The number that occurs most often in the problem."""
    nums = await ops.find_all(text=problem, kind="number")
    return await ops.vote(answers=nums)
''',
    "numbers_mean": '''async def solve(problem, ops):
    """The mean of the numbers in the problem."""
    nums = await ops.find_all(text=problem, kind="number")
    return await ops.calculate(expression=f"({' + '.join(nums)}) / {len(nums)}")
''',
    "table_row_sum": '''async def solve(problem, ops):
    """Find the table row the question names and add up its numbers."""
''' + _Q + '''    rows = await ops.parse_table(text=problem)
    row = await ops.best_match(query=q, items=rows)
    nums = [v for v in list(row.values())[1:]]
    return await ops.calculate(expression=" + ".join(nums))
''',
    "table_cell": '''async def solve(problem, ops):
    """Find the table row and the column the question names; return that cell."""
''' + _Q + '''    rows = await ops.parse_table(text=problem)
    row = await ops.best_match(query=q, items=rows)
    column = await ops.best_match(query=q, items=list(row.keys()))
    return row[column]
''',
    "table_count": '''async def solve(problem, ops):
    """Count the table rows that contain a value the question names."""
''' + _Q + '''    rows = await ops.parse_table(text=problem)
    hits = [r for r in rows if any(str(v) in q for v in r.values())]
    return str(len(hits))
''',
    "table_extreme_option": '''async def solve(problem, ops):
    """Rank the table by its number column and return the option naming the top (or bottom) row."""
''' + _Q + '''    rows = await ops.parse_table(text=problem)
    keys = list(rows[0].keys())
    low = any(w in q for w in ["lowest", "smallest", "shortest", "fewest"])
    values = [float(r[keys[1]]) for r in rows]
    best = rows[values.index(min(values) if low else max(values))]
    return await ops.match_option(text=problem, answer=best[keys[0]])
''',
    "retrieve_novel": '''async def solve(problem, ops):
    """Retrieve passages for the question, keep the closest, answer with its words the question lacks."""
''' + _Q + '''    best = await ops.best_match(query=q, items=await ops.retrieve(query=q, k=3))
    return await ops.novel_words(text=best, query=q)
''',
    "retrieve_option": '''async def solve(problem, ops):
    """Retrieve the evidence for the question and return the option it supports."""
''' + _Q + '''    q = q.split("Options:")[0]
    best = (await ops.retrieve(query=q, k=1))[0]
    answer = await ops.novel_words(text=best, query=q)
    return await ops.match_option(text=problem, answer=answer)
''',
    "retrieve_two_hop": '''async def solve(problem, ops):
    """Two retrievals: find the bridge entity, then the fact about it."""
''' + _Q + '''    first = await ops.best_match(query=q, items=await ops.retrieve(query=q, k=3))
    bridge = await ops.novel_words(text=first, query=q)
    hits = [h for h in await ops.retrieve(query=bridge, k=4) if h != first]
    second = await ops.best_match(query=q + " " + bridge, items=hits)
    return await ops.novel_words(text=second, query=q + " " + bridge)
''',
    "retrieve_compare": '''async def solve(problem, ops):
    """Retrieve a number for each of the two names in the question and return the larger (or smaller)."""
''' + _Q + '''    names = await ops.find_all(text=q, kind="name")
    values = []
    for name in names[-2:]:
        found = await ops.retrieve(query=name + " " + name + " " + q, k=4)
        evidence = await ops.best_match(query=q, items=found)
        values.append(float((await ops.find_all(text=evidence, kind="number"))[-1]))
    low = any(w in q for w in ["earlier", "first", "less", "not as"])
    pick = min(values) if low else max(values)
    return names[-2:][values.index(pick)]
''',
    "spec_formula": '''async def solve(problem, ops):
    """Build the function from the spec's backticked signature and formula; test it; else write code."""
    spans = await ops.find_all(text=problem, kind="code")
    code = f"def {spans[0]}:\\n    return {spans[1]}\\n"
    check = await ops.run_tests(solution=code)
    tries = 0
    while not check["passed"] and tries < 3:
        code = await ops.code_generate(instruction="Write the function exactly as specified.")
        check = await ops.run_tests(solution=code)
        tries += 1
    return code
''',
    "spec_mapping": '''async def solve(problem, ops):
    """Build a lookup function from the spec's backticked keys, values and default; test it; else write code."""
    spans = await ops.find_all(text=problem, kind="code")
    arg = spans[0].split("(")[1].rstrip(")")
    pairs = spans[1:-2]
    table = ", ".join([f"{pairs[i]}: {pairs[i + 1]}" for i in range(0, len(pairs) - 1, 2)])
    code = f"def {spans[0]}:\\n    return {{{table}}}.get({arg}, {spans[-2]})\\n"
    check = await ops.run_tests(solution=code)
    tries = 0
    while not check["passed"] and tries < 3:
        code = await ops.code_generate(instruction="Write the function exactly as specified.")
        check = await ops.run_tests(solution=code)
        tries += 1
    return code
''',
    "spec_piecewise": '''async def solve(problem, ops):
    """Build a two-branch function from the spec's backticked condition and formulas; test it; else write code."""
    spans = await ops.find_all(text=problem, kind="code")
    cond = [c for c in spans[1:] if ">" in c or "<" in c][0]
    branches = [c for c in spans[1:-1] if c != cond]
    code = f"def {spans[0]}:\\n    return ({branches[0]}) if {cond} else ({branches[1]})\\n"
    check = await ops.run_tests(solution=code)
    tries = 0
    while not check["passed"] and tries < 3:
        code = await ops.code_generate(instruction="Write the function exactly as specified.")
        check = await ops.run_tests(solution=code)
        tries += 1
    return code
''',
    "code_retry": '''async def solve(problem, ops):
    """Write code and run the visible tests; up to four attempts, keep the first that passes."""
    code = ""
    for _ in range(4):
        code = await ops.code_generate(instruction="Write the function exactly as specified.")
        check = await ops.run_tests(solution=code)
        if check["passed"]:
            return code
    return code
''',
}

# The composition each held-out family was built for (its oracle in results/curriculum.json).
# Training never sees these as candidates, so a held-out family's winning combination is never
# trained on as a whole; their operators all appear in the training compositions.
HELDOUT_WINNERS = {"two_hop": "retrieve_two_hop", "compare_pair": "retrieve_compare", "table_total": "table_row_sum",
                   "mean_reading": "numbers_mean", "expr_compare_mc": "options_extreme",
                   "piecewise_function": "spec_piecewise"}


def training_compositions() -> dict[str, str]:
    """The compositions synth may offer as candidates: all but the held-out families' winners."""
    held = set(HELDOUT_WINNERS.values())
    return {name: src for name, src in COMPOSITIONS.items() if name not in held}
