"""Reading and lookup families (SQuAD-, HotpotQA- and table-QA-like) over invented worlds with
look-alike names. The contexts are long for a 135M executor and the facts cannot be known; the
winning compositions find the evidence (`retrieve`, `parse_table`, `best_match`) and cut the
answer out of it (`novel_words`, a table cell, `match_option`)."""
from __future__ import annotations

import random

from flowforge.tasks.synth.family import Family
from flowforge.tasks.synth.layout import md_table, multiple_choice
from flowforge.tasks.synth.vocab import FIRST, JOBS, LAST, TOWNS, landmarks, people
from flowforge.types import Instance

INSTRUMENTS = ["cello", "oboe", "harp", "accordion", "banjo", "clarinet", "viola", "trombone", "sitar", "lute"]


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _passage(sentences: list[str], rng: random.Random, question: str, options: list[str] | None = None) -> str:
    rng.shuffle(sentences)
    cuts, i = [], 0
    while i < len(sentences):  # paragraphs of 3 to 5 sentences
        step = rng.randint(3, 5)
        cuts.append(" ".join(sentences[i: i + step]))
        i += step
    body = "\n".join(cuts)
    opts = "\n" + "\n".join(options) if options else ""
    return f"Passage:\n{body}\n\nQuestion: {question}{opts}"


def _landmark_world(rng: random.Random, n_stems: int, designers: list[str] | None = None) -> dict[str, dict]:
    """Landmark -> {designer, year, town, height}, designers and towns distinct per landmark."""
    names = landmarks(rng, n_stems)
    designers = designers or people(rng, len(names))
    towns = rng.sample(TOWNS, len(names)) if len(names) <= len(TOWNS) else [rng.choice(TOWNS) for _ in names]
    return {e: {"designer": designers[i % len(designers)], "year": rng.randint(1650, 1990), "town": towns[i],
                "height": rng.randint(12, 240)} for i, e in enumerate(names)}


LANDMARK_FACTS = {
    "designer": ["The {e} was designed by {v}.", "{v} designed the {e}."],
    "year": ["The {e} was completed in {v}.", "Work on the {e} was completed in {v}."],
    "town": ["The {e} stands in the town of {v}.", "The {e} stands in {v}."],
    "height": ["The {e} is {v} metres tall.", "The {e} rises {v} metres tall."],
}


def _landmark_sentences(world: dict[str, dict], rng: random.Random, attrs=tuple(LANDMARK_FACTS)) -> list[str]:
    return [rng.choice(LANDMARK_FACTS[a]).format(e=e, v=f[a]) for e, f in world.items() for a in attrs]


# ---- bio_lookup: one fact about one of several look-alike people -----------------------------

BIO = {  # attribute -> (sentence forms, question forms)
    "town": (["{p} was born in {v}.", "It was in {v} that {p} was born."],
             ["In which town was {p} born?", "Where was {p} born?", "{p} was born in which town?"]),
    "job": (["{p} worked as {v}.", "{p} has worked as {v}."],
            ["What did {p} work as?", "As what has {p} worked?", "{p} worked as what?"]),
    "instrument": (["{p} can play the {v}."],
                   ["Which instrument does {p} play?", "What instrument can {p} play?"]),
}


def _bio_people(rng: random.Random, n: int) -> list[str]:
    firsts, lasts = rng.sample(FIRST, max(2, n // 2 + 1)), rng.sample(LAST, max(2, n // 2 + 1))
    out: list[str] = []
    while len(out) < n:  # shared first and last names: look-alikes
        p = f"{rng.choice(firsts)} {rng.choice(lasts)}"
        if p not in out:
            out.append(p)
    return out


def make_bio_lookup(rng: random.Random) -> Instance:
    ps = _bio_people(rng, rng.randint(3, 7))
    facts = {p: {"town": rng.choice(TOWNS), "job": _a(rng.choice(JOBS)), "instrument": rng.choice(INSTRUMENTS)}
             for p in ps}
    sentences = [rng.choice(BIO[a][0]).format(p=p, v=v) for p, f in facts.items() for a, v in f.items()]
    target, attr = rng.choice(ps), rng.choice(list(BIO))
    q = rng.choice(BIO[attr][1]).format(p=target)
    return Instance("", _passage(sentences, rng, q), facts[target][attr], {"passages": sentences})


# ---- reverse_lookup: which landmark has a given designer or town ------------------------------

def make_reverse_lookup(rng: random.Random) -> Instance:
    world = _landmark_world(rng, rng.randint(2, 4))
    sentences = _landmark_sentences(world, rng)
    target = rng.choice(list(world))
    if rng.random() < 0.6:
        q = rng.choice(["Which landmark was designed by {v}?", "What did {v} design?",
                        "Name the landmark that {v} designed."]).format(v=world[target]["designer"])
    else:
        q = rng.choice(["Which landmark stands in the town of {v}?", "In the town of {v}, which landmark stands?"]).format(
            v=world[target]["town"])
    return Instance("", _passage(sentences, rng, q), target, {"passages": sentences})


# ---- table_lookup: one cell of a timetable ----------------------------------------------------

COMPANIES = ["Larkline Rail", "Northway Coaches", "Bluewater Ferries", "Crestlink", "Harbour Express",
             "Moorland Buses", "Silverline", "Tidewater Lines"]
LOOKUP_ASK = {
    "Departs": ["At what time does the service to {d} depart?", "When does the {d} service depart?",
                "What is the departure time for {d}?"],
    "Platform": ["From which platform does the {d} train leave?", "Which platform serves {d}?",
                 "What platform should a passenger for {d} go to?"],
    "Operator": ["Which company operates the route to {d}?", "Who operates the {d} service?"],
}


def make_table_lookup(rng: random.Random) -> Instance:
    dests = rng.sample(TOWNS, rng.randint(4, 9))
    rows = [{"Destination": d, "Departs": f"{rng.randint(5, 22):02d}:{rng.choice(range(0, 60, 5)):02d}",
             "Platform": str(rng.randint(1, 14)), "Operator": rng.choice(COMPANIES)} for d in dests]
    cols = list(rows[0])
    table = md_table(cols, [[r[c] for c in cols] for r in rows])
    target, col = rng.choice(rows), rng.choice(list(LOOKUP_ASK))
    q = rng.choice(LOOKUP_ASK[col]).format(d=target["Destination"])
    intro = rng.choice(["Departures board at Central Station:", "Today's timetable:", "Evening departures:"])
    lines = table.splitlines()
    return Instance("", f"{intro}\n\n{table}\n\nQuestion: {q}", target[col],
                    {"passages": [lines[0] + "\n" + ln for ln in lines[2:]]})  # each row under its header


# ---- passage_mc: multiple choice over a landmark passage (3 to 6 options) ---------------------

def make_passage_mc(rng: random.Random) -> Instance:
    world = _landmark_world(rng, rng.randint(2, 4))
    sentences = _landmark_sentences(world, rng)
    target = rng.choice(list(world))
    q = rng.choice(["Which of these landmarks was designed by {v}?", "{v} designed which of the following?",
                    "Pick the landmark that {v} designed."]).format(v=world[target]["designer"])
    others = [e for e in world if e != target]
    k = min(len(others), rng.randint(2, 5))
    listed, answer = multiple_choice(rng, target, others, k)
    return Instance("", _passage(sentences, rng, q, ["Options:"] + listed), answer, {"passages": sentences})


# ---- two_hop (held out): a landmark's designer, then a fact about that person -----------------

def make_two_hop(rng: random.Random) -> Instance:
    world = _landmark_world(rng, rng.randint(2, 3))
    sentences = _landmark_sentences(world, rng, attrs=("designer", "year"))
    bios = {w["designer"]: {"town": rng.choice(TOWNS), "job": _a(rng.choice(JOBS))} for w in world.values()}
    sentences += [rng.choice(BIO[a][0]).format(p=p, v=v) for p, f in bios.items() for a, v in f.items()]
    target = rng.choice(list(world))
    attr = rng.choice(["town", "job"])
    q = rng.choice({
        "town": ["In which town was the designer of the {e} born?", "Where was the person who designed the {e} born?"],
        "job": ["What did the designer of the {e} work as?", "The person who designed the {e} worked as what?"],
    }[attr]).format(e=target)
    return Instance("", _passage(sentences, rng, q), bios[world[target]["designer"]][attr], {"passages": sentences})


# ---- compare_pair (held out): which of two landmarks is older / taller ------------------------

COMPARE = {  # (attribute, the smaller one wins?) -> question forms
    ("year", True): ["Which was completed earlier, the {a} or the {b}?", "Which was completed first: the {a} or the {b}?"],
    ("year", False): ["Which was completed later, the {a} or the {b}?",
                      "Which was completed more recently: the {a} or the {b}?"],
    ("height", False): ["Which is taller, the {a} or the {b}?", "Which is the taller one: the {a} or the {b}?"],
    ("height", True): ["Which is less tall, the {a} or the {b}?", "Of the {a} and the {b}, which is not as tall?"],
}


def make_compare_pair(rng: random.Random) -> Instance:
    world = _landmark_world(rng, rng.randint(2, 4))
    (attr, smaller), forms = rng.choice(list(COMPARE.items()))
    a, b = rng.sample(list(world), 2)
    if world[a][attr] == world[b][attr]:
        world[b][attr] += 1
    sentences = _landmark_sentences(world, rng)
    pick = min if smaller else max
    answer = pick((a, b), key=lambda e: world[e][attr])
    q = rng.choice(forms).format(a=a, b=b)
    return Instance("", _passage(sentences, rng, q), answer, {"passages": sentences})


# ---- designer_count: how many landmarks one person designed (retrieve -> count) --------------

def make_designer_count(rng: random.Random) -> Instance:
    names = landmarks(rng, rng.randint(2, 4))
    designers = people(rng, rng.randint(2, 4))
    world = {
        e: {"designer": rng.choice(designers), "year": rng.randint(1650, 1990), "town": rng.choice(TOWNS),
            "height": rng.randint(12, 240)} for e in names}
    sentences = _landmark_sentences(world, rng)
    target = rng.choice(designers)
    q = rng.choice(["How many of the landmarks did {p} design?", "How many landmarks in the passage were designed by {p}?",
                    "Count the landmarks that {p} designed."]).format(p=target)
    answer = sum(w["designer"] == target for w in world.values())
    return Instance("", _passage(sentences, rng, q), str(answer), {"passages": sentences})


SPAN = "a short span copied from the passage (a name, town, job or instrument)"
FAMILIES = [
    Family("bio_lookup", "qa", "f1",
           "Reading comprehension over short biographies of people with similar names (where they were born, "
           "their work, the instrument they play). The passage ends with a question about one person.",
           SPAN, make_bio_lookup, ("retrieve", "best_match", "novel_words")),
    Family("reverse_lookup", "qa", "f1",
           "Reading comprehension over a passage about invented landmarks with look-alike names (who designed "
           "them, when, where, how tall); the question names a person or a town and asks which landmark.",
           "the landmark's name as written in the passage", make_reverse_lookup, ("retrieve", "best_match", "novel_words")),
    Family("table_lookup", "qa", "f1",
           "Timetable questions: a Markdown table of departures (destination, time, platform, operator) and a "
           "question after 'Question:' about one cell.", "the table cell's text, exactly",
           make_table_lookup, ("parse_table", "best_match")),
    Family("passage_mc", "qa", "bbh_exact",
           "Multiple-choice reading comprehension over a passage about invented landmarks: the question names a "
           "designer and lists between three and six landmark names as options (A), (B), ...",
           "one of the options, as its letter in parentheses, e.g. (A)", make_passage_mc,
           ("retrieve", "best_match", "novel_words", "match_option")),
    Family("designer_count", "qa", "last_number",
           "Counting over a passage about invented landmarks and their designers: the question asks how many "
           "landmarks one person designed.", "a single whole number", make_designer_count,
           ("find_all", "retrieve")),
    Family("two_hop", "qa", "f1",
           "Multi-hop question answering (like HotpotQA's bridge questions): a passage about invented landmarks "
           "and the people who designed them; the question asks for a fact about the designer of a landmark.",
           SPAN, make_two_hop, ("retrieve", "best_match", "novel_words"), heldout=True),
    Family("compare_pair", "qa", "exact_match",
           "Comparison questions (like HotpotQA's comparison type): a passage about invented landmarks, and a "
           "question asking which of two of them is older, newer, taller or shorter.",
           "the name of one of the two landmarks, as written in the question", make_compare_pair,
           ("find_all", "retrieve", "best_match"), heldout=True),
]
