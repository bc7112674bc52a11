"""synth/arith_word: multi-step arithmetic word problems with 3-digit quantities and a distractor
number. A weak executor cannot do the arithmetic in its head; a workflow that extracts the
expression and hands it to `calculate` can, and one that adds up every number it sees fails."""
from __future__ import annotations

import random

from flowforge.types import Instance

DOMAIN = "math"
SCORER = "last_number"
WINNING = ["extract", "calculate"]
DESCRIPTION = ("Multi-step arithmetic word problems: a person's stock of items changes through a few "
               "purchases, losses, regroupings or sales, with large numbers and sometimes an irrelevant "
               "number. The answer is a single whole number.")
ANSWER_FORMAT = "a single whole number"

NAMES = ["Ava", "Bruno", "Chen", "Dalia", "Emeka", "Farah", "Goran", "Hana", "Ilya", "Juno", "Kofi", "Lena"]
ITEMS = [("box", "pencils"), ("crate", "apples"), ("bag", "marbles"), ("carton", "eggs"), ("tray", "cupcakes"),
         ("pack", "stickers"), ("case", "bottles"), ("bundle", "cards")]
OTHER = ["chairs", "books", "lamps", "kites", "shoes", "plants"]


def make(rng: random.Random) -> Instance:
    return make_with_expression(rng)[0]


def make_with_expression(rng: random.Random) -> tuple[Instance, str]:
    """The instance and the arithmetic expression that solves it (for tests and synthetic data)."""
    name, (unit, item), other = rng.choice(NAMES), rng.choice(ITEMS), rng.choice(OTHER)
    a, b = rng.randint(15, 99), rng.randint(15, 48)
    value, expr = a * b, f"{a} * {b}"
    s = [f"{name} has {a} {unit}es of {item} with {b} {item} in each {unit}." if unit.endswith(("x", "s", "h"))
         else f"{name} has {a} {unit}s of {item} with {b} {item} in each {unit}."]
    for _ in range(rng.randint(1, 2)):
        if rng.random() < 0.5:
            c = rng.randint(101, 999)
            s.append(rng.choice([f"{name} buys {c} more {item}.", f"A friend gives {name} another {c} {item}."]))
            value, expr = value + c, f"({expr}) + {c}"
        else:
            c = rng.randint(101, max(102, value // 2))
            s.append(rng.choice([f"{name} sells {c} of the {item}.", f"{c} of the {item} get lost."]))
            value, expr = value - c, f"({expr}) - {c}"
    if rng.random() < 0.6:
        s.insert(rng.randint(1, len(s)), f"{name}'s neighbour owns {rng.randint(13, 97)} {other}.")
    final = rng.random()
    if final < 0.35:  # regroup evenly: pick a divisor of the current value
        divs = [d for d in range(3, 13) if value % d == 0]
        if divs:
            d = rng.choice(divs)
            s.append(f"{name} shares all the {item} equally among {d} shelves. How many {item} are on each shelf?")
            return Instance("", " ".join(s), str(value // d)), f"({expr}) / {d}"
    if final < 0.7:
        p = rng.randint(2, 9)
        s.append(f"{name} then sells every remaining {item[:-1] if item.endswith('s') else item} for ${p}. "
                 f"How many dollars does {name} receive?")
        return Instance("", " ".join(s), str(value * p)), f"({expr}) * {p}"
    s.append(f"How many {item} does {name} have now?")
    return Instance("", " ".join(s), str(value)), expr
