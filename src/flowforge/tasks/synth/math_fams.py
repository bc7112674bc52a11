"""Arithmetic families (GSM8K- and BBH-arithmetic-like). The numbers are large or many, so a
135M executor cannot do the arithmetic in its head; the winning compositions pull the numbers or
the expression out with tools and hand them to `calculate`."""
from __future__ import annotations

import random

from flowforge.tasks.synth.family import Family
from flowforge.tasks.synth.layout import md_table
from flowforge.tasks.synth.vocab import FIRST, ITEMS, TOWNS, first_names, money
from flowforge.types import Instance


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


# ---- nested_arith: an expression inside varied prose (extract -> calculate) -------------------

def _expr(rng: random.Random, depth: int) -> str:
    if depth <= 0:
        return str(rng.choice([rng.randint(-9, 9), rng.randint(10, 99)]))
    op = rng.choice(["+", "-", "*"])
    a, b = _expr(rng, depth - 1 - (rng.random() < 0.3)), _expr(rng, max(0, depth - 1 - (rng.random() < 0.5)))
    return f"({a} {op} {b})"


def make_nested_arith(rng: random.Random) -> Instance:
    e = _expr(rng, rng.randint(2, 3))
    while abs(eval(e)) > 10**6:  # noqa: S307 - integers and + - * only, built above
        e = _expr(rng, 2)
    body = e[1:-1] if rng.random() < 0.5 else e
    problem = rng.choice([
        "Evaluate the expression {e}.", "What is the value of {e}?", "Simplify {e} to a single integer.",
        "A student types {e} into a calculator. What number should the display show?",
        "Work out {e}; give the result as an integer.", "Compute: {e}",
        "In a puzzle book, the answer to clue {n} is the value of {e}. What is that answer?",
    ]).format(e=body, n=rng.randint(2, 40))
    return Instance("", problem, str(eval(e)))  # noqa: S307


# ---- shopping_total: one bullet per purchase (split -> multiply each -> add up) --------------

def make_shopping_total(rng: random.Random) -> Instance:
    name = rng.choice(FIRST)
    k = rng.randint(2, 5)
    lines, total = [], 0.0
    for noun in rng.sample(ITEMS, k):
        q, price = rng.randint(2, 24), rng.choice([rng.randint(1, 40), rng.randint(10, 400) / 20])
        total += q * price
        lines.append(rng.choice(["- {q} {p} at {m} each", "- {q} {p}, {m} apiece", "- {q} {p} costing {m} each"])
                     .format(q=q, p=noun[1], m=money(price)))
    intro = rng.choice([f"{name} is shopping for a school fair and buys:",
                        f"Here is {name}'s receipt from the market:",
                        f"{name} orders supplies for the workshop:"])
    extra = rng.choice(["", f"{name} had {rng.randint(2, 9)} coupons but forgot to use them.",
                        f"The shop is {rng.randint(2, 15)} minutes from home."])
    ask = rng.choice(["How much does {n} spend in total, in dollars?", "What is the total cost in dollars?",
                      "How many dollars does the whole order cost?"]).format(n=name)
    problem = "\n".join([intro, *lines, *([extra] if extra else []), ask])
    return Instance("", problem, _fmt(round(total, 2)))


# ---- unit_chain: invented units converted in a chain (find all numbers -> multiply) -----------

UNITS = ["grop", "stell", "pim", "varl", "tosk", "brenn", "quell", "dram", "fesk", "lurr", "mott", "zind"]


def make_unit_chain(rng: random.Random) -> Instance:
    units = rng.sample(UNITS, rng.randint(3, 4))
    facts, factor = [], 1
    for big, small in zip(units, units[1:]):
        f = rng.randint(2, 16)
        factor *= f
        facts.append(rng.choice(["1 {b} equals {f} {s}s.", "A {b} is worth {f} {s}s.", "Each {b} is made of {f} {s}s.",
                                 "There are {f} {s}s in one {b}."]).format(b=big, s=small, f=f))
    rng.shuffle(facts)
    n = rng.randint(2, 30)
    place = rng.choice(["On the island of Veld", "In an old trading guild", "In a board game", "In a fantasy novel"])
    ask = rng.choice(["How many {s}s are there in {n} {b}s?", "Convert {n} {b}s into {s}s.",
                      "A merchant has {n} {b}s. How many {s}s is that?"]).format(n=n, b=units[0], s=units[-1])
    problem = f"{place}, these units are used. " + " ".join(facts) + " " + ask
    return Instance("", problem, str(n * factor))


# ---- budget_left: a starting amount, then several expenses (find numbers -> subtract) ---------

EXPENSES = ["rent", "electricity", "groceries", "a bus pass", "a gym membership", "internet", "a birthday gift",
            "car repairs", "books", "insurance"]


def make_budget_left(rng: random.Random) -> Instance:
    name = rng.choice(FIRST)
    start = rng.randint(800, 5000)
    costs = [(e, rng.randint(15, start // 5)) for e in rng.sample(EXPENSES, rng.randint(2, 5))]
    listed = ", ".join(f"{money(c)} on {e}" for e, c in costs[:-1]) + f" and {money(costs[-1][1])} on {costs[-1][0]}"
    intro = rng.choice(["{n} starts the month with {s}.", "{n} has {s} in a savings account.",
                        "At the start of the season {n}'s club has a budget of {s}."]).format(n=name, s=money(start))
    spend = rng.choice(["Then {n} spends {l}.", "Over the next weeks {n} pays {l}.", "The outgoings are {l}."])
    ask = rng.choice(["How many dollars are left?", "How much money remains, in dollars?",
                      "What is the remaining balance in dollars?"])
    return Instance("", f"{intro} {spend.format(n=name, l=listed)} {ask}", str(start - sum(c for _, c in costs)))


# ---- sequence_next: the next term of an arithmetic sequence (find numbers -> calculate) -------

def make_sequence_next(rng: random.Random) -> Instance:
    a, d, n = rng.randint(-50, 300), rng.choice([-1, 1]) * rng.randint(3, 97), rng.randint(4, 7)
    terms = [a + d * i for i in range(n)]
    shown = ", ".join(map(str, terms))
    problem = rng.choice([
        "What number comes next in the sequence {s}, ...?", "The sequence {s} goes up or down by a fixed step. "
        "What is the next term?", "A counter shows {s} at successive checks, changing by the same amount each "
        "time. What will it show at the next check?", "Continue the pattern: {s}, ?"]).format(s=shown)
    return Instance("", problem, str(terms[-1] + d))


# ---- table_total (held out): sum one row of a table (parse table -> find row -> add up) -------

def make_table_total(rng: random.Random) -> Instance:
    periods = rng.choice([["Q1", "Q2", "Q3", "Q4"], ["Jan", "Feb", "Mar"], ["Week 1", "Week 2", "Week 3", "Week 4",
                                                                            "Week 5"], ["2021", "2022", "2023"]])
    rows = rng.sample(TOWNS, rng.randint(3, 7))
    unit = rng.choice([("units", "sold", "sell"), ("tickets", "sold", "sell"), ("parcels", "delivered", "deliver"),
                       ("meals", "served", "serve")])
    data = {r: [rng.randint(20, 9999) for _ in periods] for r in rows}
    table = md_table(["Branch", *periods], [[r, *v] for r, v in data.items()])
    target = rng.choice(rows)
    ask = rng.choice(["How many {u} did the {t} branch {v} in total over the {k} periods shown?",
                      "What is the {t} branch's total number of {u} {v} across all periods?",
                      "Across every column, how many {u} were {v} by the {t} branch?"])
    problem = (rng.choice(["A regional report lists, per branch:", "The table gives figures for each branch."])
               + f" ({unit[0]} {unit[1]})\n\n{table}\n\nQuestion: "
               + ask.format(u=unit[0], v=unit[1] if "were" in ask or "total number" in ask else unit[2], t=target,
                            k=len(periods)))
    return Instance("", problem, str(sum(data[target])))


# ---- mean_reading (held out): the average of several reported values -------------------------

def make_mean_reading(rng: random.Random) -> Instance:
    k = rng.randint(3, 7)
    names = first_names(rng, k)
    base = rng.randint(20, 900)
    vals = [base + rng.randint(-15, 15) for _ in names]
    while (sum(vals) * 100) % len(vals):  # the mean has at most two decimals
        vals[-1] += 1
    what, unit = rng.choice([("the length of the hall", "cm"), ("the weight of the parcel", "g"),
                             ("the height of the tree", "cm"), ("the time of the run", "seconds")])
    reports = ", ".join(f"{n} got {v} {unit}" for n, v in zip(names, vals))
    problem = rng.choice([
        "Several people each measured {w}: {r}. What is the mean of their measurements, in {u}?",
        "To reduce error, a class averages its readings of {w}. The readings were: {r}. What average do they report "
        "(in {u})?"]).format(k=len(names), w=what, r=reports, u=unit)
    return Instance("", problem, _fmt(round(sum(vals) / len(vals), 2)))


# ---- recipe_scale: scale a quantity from one batch size to another (find numbers -> ratio) ----

INGREDIENTS = [("flour", "grams"), ("sugar", "grams"), ("milk", "millilitres"), ("rice", "grams"),
               ("stock", "millilitres"), ("butter", "grams"), ("lentils", "grams"), ("oats", "grams")]


def make_recipe_scale(rng: random.Random) -> Instance:
    base = rng.randint(2, 8)
    target = rng.choice([m for m in range(2, 41) if m != base])
    per = rng.randint(5, 60)
    amount = per * base
    (food, unit), dish = rng.choice(INGREDIENTS), rng.choice(["stew", "porridge", "flatbread", "pudding", "soup"])
    ask = rng.choice(["How many {u} of {f} are needed for {t} people?", "How much {f}, in {u}, serves {t} people?",
                      "Scaled to feed {t} people, how many {u} of {f} does the recipe need?"]).format(u=unit, f=food, t=target)
    intro = rng.choice(["A {d} recipe for {b} people uses {a} {u} of {f}.",
                        "To make {d} for {b} people, a cook uses {a} {u} of {f}.",
                        "{a} {u} of {f} go into a {d} that serves {b} people."]).format(d=dish, b=base, a=amount, u=unit,
                                                                                        f=food)
    return Instance("", f"{intro} The amounts scale in proportion. {ask}", str(per * target))


NUMBER = "a single number (no units)"
FAMILIES = [
    Family("nested_arith", "math", "last_number",
           "Multi-step arithmetic (like BIG-Bench Hard's multistep arithmetic): a nested expression of integers "
           "with +, - and * and parentheses, stated inside a short sentence. The answer is its integer value.",
           "a single integer", make_nested_arith, ("extract", "calculate")),
    Family("shopping_total", "math", "last_number",
           "Shopping word problems: a list of purchases, one per line as '- <quantity> <item> at <price> each' "
           "(wording varies), sometimes with an irrelevant remark. The answer is the total cost in dollars.",
           NUMBER, make_shopping_total, ("find_all", "calculate")),
    Family("unit_chain", "math", "last_number",
           "Unit conversion word problems with invented units: a few statements of how many of one unit make "
           "another, then a quantity to convert along the chain. The answer is a whole number.",
           NUMBER, make_unit_chain, ("find_all", "calculate")),
    Family("budget_left", "math", "last_number",
           "Budget word problems: a starting amount of money, then several expenses. The answer is the amount "
           "left, in dollars.", NUMBER, make_budget_left, ("find_all", "calculate")),
    Family("sequence_next", "math", "last_number",
           "Number patterns: the first terms of a sequence that changes by a fixed step. The answer is the next "
           "term.", NUMBER, make_sequence_next, ("find_all", "calculate")),
    Family("recipe_scale", "math", "last_number",
           "Proportion word problems: a recipe's amount of one ingredient for some number of people, scaled to "
           "another number of people. The answer is the scaled amount.", NUMBER, make_recipe_scale,
           ("find_all", "calculate")),
    Family("table_total", "math", "last_number",
           "Table arithmetic (like TAT-QA): a Markdown table with one row per branch and one column per period, "
           "and a question asking for one branch's total over all periods. The answer is a whole number.",
           NUMBER, make_table_total, ("parse_table", "best_match", "calculate"), heldout=True),
    Family("mean_reading", "math", "last_number",
           "Averaging word problems: several people report a measurement of the same thing, and the question "
           "asks for the mean of their values.", NUMBER, make_mean_reading, ("find_all", "calculate"),
           heldout=True),
]
