"""synth/passage_qa: extractive questions over a generated passage about invented landmarks,
with look-alike distractors (same name stem, other kind of landmark). The passage is long for a
135M executor; a workflow that `retrieve`s the few matching sentences, keeps the closest and cuts
the answer out of it (`novel_words`) wins over one that reads the whole passage. Single-hop, invented facts: nothing from HotpotQA."""
from __future__ import annotations

import random

from flowforge.types import Instance

DOMAIN = "qa"
SCORER = "f1"
WINNING = ["retrieve", "best_match", "novel_words"]
DESCRIPTION = ("Extractive reading comprehension over a long generated passage about invented places "
               "and their builders, years, sizes and towns, with many similar-sounding distractors. "
               "The answer is a short span copied from the passage.")
ANSWER_FORMAT = "a short span from the passage (a name, year, number or town)"

STEMS = ["Varn", "Osk", "Tel", "Brim", "Cald", "Dunm", "Esk", "Ferr", "Gald", "Holm", "Isk", "Jarv", "Kell",
         "Lorn", "Morv", "Nesk"]
ENDS = ["el", "ard", "ith", "ow", "an", "ere", "ock", "ay"]
KINDS = ["Bridge", "Tower", "Library", "Observatory", "Mill", "Lighthouse", "Museum", "Aqueduct"]
FIRST = ["Ada", "Bram", "Corin", "Dagny", "Elio", "Freya", "Gideon", "Hester", "Ivo", "Jessa", "Kasimir", "Liesl"]
LAST = ["Marrow", "Quill", "Ashdown", "Penhale", "Tarrant", "Wexley", "Orme", "Stanier", "Vauclair", "Brisk"]
TOWNS = ["Hollowmere", "Saltcombe", "Kestrel Bay", "Ardmoor", "Pinecrest", "Wyrmford", "Coldharbour", "Elmsworth"]

FACTS = {  # attribute -> (sentence template, question template)
    "year": ("The {e} was completed in {v}.", "In which year was the {e} completed?"),
    "builder": ("The {e} was designed by {v}.", "Who designed the {e}?"),
    "town": ("The {e} stands in the town of {v}.", "In which town does the {e} stand?"),
    "height": ("The {e} is {v} metres tall.", "How many metres tall is the {e}?"),
}


def _value(rng: random.Random, attr: str) -> str:
    if attr == "year":
        return str(rng.randint(1650, 1990))
    if attr == "builder":
        return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if attr == "town":
        return rng.choice(TOWNS)
    return str(rng.randint(12, 240))


def make(rng: random.Random) -> Instance:
    stems = rng.sample(STEMS, rng.randint(3, 5))
    entities = []
    for st in stems:  # each stem names two or three landmarks of different kinds: look-alikes
        name = st + rng.choice(ENDS)
        entities += [f"{name} {k}" for k in rng.sample(KINDS, rng.randint(2, 3))]
    facts = {e: {a: _value(rng, a) for a in FACTS} for e in entities}
    sentences = [FACTS[a][0].format(e=e, v=v) for e in entities for a, v in facts[e].items()]
    rng.shuffle(sentences)
    target, attr = rng.choice(entities), rng.choice(list(FACTS))
    question = FACTS[attr][1].format(e=target)
    paragraphs = [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    problem = "Passage:\n" + "\n".join(paragraphs) + f"\n\nQuestion: {question}"
    return Instance("", problem, facts[target][attr], {"passages": sentences})
