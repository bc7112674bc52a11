"""Logic and counting families (BIG-Bench-Hard-like): claims to check and count, a table to rank,
reports to reconcile, expressions to compare. Each needs many small exact steps that a 135M
executor gets wrong; the winning compositions do each step with a tool and combine the results."""
from __future__ import annotations

import random

from flowforge.tasks.synth.family import Family
from flowforge.tasks.synth.layout import lettered, md_table, multiple_choice
from flowforge.tasks.synth.vocab import FIRST, TOWNS, first_names, letters
from flowforge.types import Instance

OPTION_FORMAT = "one of the options, as its letter in parentheses, e.g. (A)"


def _arith(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(6, 99), rng.randint(3, 99)
    op = rng.choice(["+", "-", "*"])
    return f"{a} {op} {b}", eval(f"{a} {op} {b}")  # noqa: S307 - two integers and one operator


# ---- statement_count: how many numbered claims hold (split -> calculate each -> count) --------

def make_statement_count(rng: random.Random) -> Instance:
    n = rng.randint(3, 8)
    lines, true = [], 0
    for i in range(n):
        e, v = _arith(rng)
        rel = rng.choice(["<", ">", "<=", ">="])
        c = v + rng.choice([-1, 1]) * rng.randint(0, max(2, abs(v) // 10))
        true += eval(f"{v} {rel} {c}")  # noqa: S307
        lines.append(f"Claim {i + 1}: {e} {rel} {c}")
    intro = rng.choice(["How many of the following claims are true?", "Check each claim below. How many of them hold?",
                        "A quiz lists some inequalities. Count the correct ones."])
    return Instance("", intro + "\n" + "\n".join(lines), str(true))


# ---- ranking_mc: the extreme row of a table, as a lettered option (3 to 6 options) ------------

RANKED = [("Mountain", "Height (m)", "highest", "lowest"), ("Town", "Population", "largest", "smallest"),
          ("River", "Length (km)", "longest", "shortest"), ("Team", "Points", "most", "fewest")]
PEAKS = ["Mount Arvel", "Skarn Peak", "Dolmen Ridge", "Mount Tiree", "Kelder Spire", "Vossa Crag", "Brannoch Top",
         "Mount Iselle", "Harrow Pike", "Glenvar Summit"]
RIVERS = ["Tamsa", "Oriel", "Vey", "Lusk", "Corran", "Ebble", "Marr", "Sile", "Wendle", "Avonet"]


def make_ranking_mc(rng: random.Random) -> Instance:
    kind, metric, hi, lo = rng.choice(RANKED)
    pool = {"Mountain": PEAKS, "Town": TOWNS, "River": RIVERS, "Team": [f"{t} Rovers" for t in TOWNS]}[kind]
    names = rng.sample(pool, rng.randint(4, 8))
    values = rng.sample(range(100, 9000), len(names))
    table = md_table([kind, metric], zip(names, values))
    want_hi = rng.random() < 0.5
    best = (max if want_hi else min)(zip(names, values), key=lambda nv: nv[1])[0]
    q = rng.choice(["Which {k} in the table has the {w} value?", "According to the table, which {k} is the {w}?",
                    "Pick the {k} with the {w} figure."]).format(k=kind.lower(), w=hi if want_hi else lo)
    others = [n for n in names if n != best]
    listed, answer = multiple_choice(rng, best, others, rng.randint(2, min(5, len(others))))
    return Instance("", f"{table}\n\nQuestion: {q}\nOptions:\n" + "\n".join(listed), answer)


# ---- majority_reading: the value most reports agree on (find numbers -> vote) -----------------

def make_majority_reading(rng: random.Random) -> Instance:
    k = rng.randint(5, 9)
    names = list(dict.fromkeys(rng.sample(FIRST, k)))
    true = rng.randint(12, 950)
    n_agree = k // 2 + 1 if rng.random() < 0.5 else max(2, k // 2)
    vals = [true] * n_agree
    while len(vals) < k:  # the rest scatter, never matching each other as often
        v = true + rng.choice([-1, 1]) * rng.randint(1, 40)
        if vals.count(v) < n_agree - 1 and v != true:
            vals.append(v)
    rng.shuffle(vals)
    what, unit = rng.choice([("the height of the waterfall", "metres"), ("the number of birds on the lake", "birds"),
                             ("the weight of the pumpkin", "kilograms"), ("the crowd at the match", "people")])
    verb = rng.choice(["said", "estimated", "reported", "wrote down"])
    reports = "; ".join(f"{n} {verb} {v} {unit}" for n, v in zip(names, vals))
    problem = rng.choice([
        "Several witnesses estimated {w}: {r}. Most reports are rounded copies of the true value, so take the value "
        "given most often. What is it?", "Field notes on {w}: {r}. Which value was reported by the most people?",
        "Readings of {w} from {k} observers: {r}. What value do the most observers agree on?"]).format(
        w=what, r=reports, k=k)
    return Instance("", problem, str(true))


# ---- count_matching: count the table rows that match a condition ------------------------------

def make_count_matching(rng: random.Random) -> Instance:
    towns = rng.sample(TOWNS, rng.randint(3, 5))
    clerks = first_names(rng, rng.randint(2, 4))
    rows = [(f"#{rng.randint(1000, 9999)}", rng.choice(towns), rng.choice(clerks), rng.randint(1, 40))
            for _ in range(rng.randint(5, 12))]
    table = md_table(["Order", "Destination", "Clerk", "Boxes"], rows)
    if rng.random() < 0.5:
        t = rng.choice(towns)
        q = rng.choice(["How many orders were shipped to {t}?", "How many of the orders go to {t}?"]).format(t=t)
        ans = sum(r[1] == t for r in rows)
    else:
        c = rng.choice(clerks)
        q = rng.choice(["How many orders did {c} handle?", "Count the orders handled by {c}."]).format(c=c)
        ans = sum(r[2] == c for r in rows)
    intro = rng.choice(["Warehouse log for Monday:", "Orders packed this week:", "Dispatch sheet:"])
    return Instance("", f"{intro}\n\n{table}\n\nQuestion: {q}", str(ans))


# ---- expr_compare_mc (held out): the option whose expression is largest or smallest -----------

def make_expr_compare_mc(rng: random.Random) -> Instance:
    n = rng.randint(3, 6)
    exprs: list[tuple[str, int]] = []
    while len(exprs) < n:
        e, v = _arith(rng)
        if v not in [x[1] for x in exprs]:
            exprs.append((e, v))
    want_hi = rng.random() < 0.5
    best = (max if want_hi else min)(range(n), key=lambda i: exprs[i][1])
    q = rng.choice(["Which of these expressions has the {w} value?", "Which option evaluates to the {w} number?"]
                   ).format(w="largest" if want_hi else "smallest")
    return Instance("", q + "\n" + "\n".join(lettered([e for e, _ in exprs])), letters(n)[best])


FAMILIES = [
    Family("statement_count", "reasoning", "last_number",
           "Counting true claims: a list of numbered inequalities between arithmetic expressions and numbers, one "
           "per line as 'Claim <n>: ...'. The answer is how many of them are true.",
           "a single whole number", make_statement_count, ("extract", "calculate")),
    Family("ranking_mc", "reasoning", "bbh_exact",
           "Table ranking: a two-column Markdown table (a name and a number), a question asking which row has the "
           "highest or lowest value, and between three and six lettered options.", OPTION_FORMAT,
           make_ranking_mc, ("parse_table", "match_option")),
    Family("majority_reading", "reasoning", "last_number",
           "Reconciling reports: several people each report a value for the same quantity; the answer is the "
           "value reported most often.", "a single number (no units)", make_majority_reading,
           ("find_all", "vote")),
    Family("count_matching", "reasoning", "last_number",
           "Counting in a table: a Markdown log of orders (order number, destination, clerk, boxes) and a "
           "question asking how many orders match a destination or a clerk.", "a single whole number",
           make_count_matching, ("parse_table",)),
    Family("expr_compare_mc", "reasoning", "bbh_exact",
           "Comparing expressions: between three and six lettered options, each an arithmetic expression; the "
           "question asks which has the largest or the smallest value.", OPTION_FORMAT, make_expr_compare_mc,
           ("calculate",), heldout=True),
]
