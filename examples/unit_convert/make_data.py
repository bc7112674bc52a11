"""Writes validate.jsonl and test.jsonl (seeded, so rerunning gives the same files)."""
import json
import random
from pathlib import Path

from unit_tools import UNITS, convert

TEMPLATES = [
    "Convert {v} {a} to {b}.",
    "A rope is {v} {a} long. How long is it in {b}?",
    "How many {b} are there in {v} {a}?",
    "A package weighs {v} {a}. What is that in {b}?",
    "The trip took {v} {a}. How many {b} is that?",
]


def rows(n: int, rng: random.Random, prefix: str) -> list[dict]:
    out = []
    while len(out) < n:
        a, b = rng.sample(sorted(UNITS), 2)
        if UNITS[a][0] != UNITS[b][0]:
            continue
        template = rng.choice([t for t in TEMPLATES if ("weighs" not in t or UNITS[a][0] == "mass")
                               and ("took" not in t or UNITS[a][0] == "time")
                               and ("rope" not in t or UNITS[a][0] == "length")])
        question = template.format(v=rng.choice([2, 2.5, 3, 4, 5, 7.5, 10, 12, 20, 36, 100]), a=a, b=b)
        answer = convert(question)
        if 0.001 <= answer < 1e6:  # printed without an exponent
            out.append({"id": f"{prefix}-{len(out)}", "question": question, "answer": f"{answer:.6g}"})
    return out


if __name__ == "__main__":
    rng = random.Random(0)
    here = Path(__file__).parent
    for split, n in (("validate", 20), ("test", 40)):
        rows_ = rows(n, rng, split)
        (here / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_))
