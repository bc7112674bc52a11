"""Shared word lists for the procedural families: invented or common names, so that no fact can be
known in advance and every answer must come from the instance."""
from __future__ import annotations

import random

FIRST = ["Ada", "Bram", "Corin", "Dagny", "Elio", "Freya", "Gideon", "Hester", "Ivo", "Jessa", "Kasimir", "Liesl",
         "Mireille", "Nuno", "Odette", "Piet", "Quincy", "Rosalind", "Soren", "Tamsin", "Ulla", "Viktor", "Wren",
         "Yusuf", "Zofia", "Amara", "Bastian", "Chidi", "Delphine", "Emre"]
LAST = ["Marrow", "Quill", "Ashdown", "Penhale", "Tarrant", "Wexley", "Orme", "Stanier", "Vauclair", "Brisk",
        "Okafor", "Lindqvist", "Halloran", "Seferis", "Montague", "Raskin", "Albescu", "Thorne", "Nakamura", "Devereux"]
TOWNS = ["Hollowmere", "Saltcombe", "Kestrel Bay", "Ardmoor", "Pinecrest", "Wyrmford", "Coldharbour", "Elmsworth",
         "Brackenridge", "Dunmore", "Fallowfield", "Greystone", "Havelock", "Ironbridge", "Juniper Falls", "Larkhill",
         "Marlow Cross", "Northwold", "Oakhampton", "Rivenhall"]
STEMS = ["Varn", "Osk", "Tel", "Brim", "Cald", "Dunm", "Esk", "Ferr", "Gald", "Holm", "Isk", "Jarv", "Kell",
         "Lorn", "Morv", "Nesk", "Pell", "Rusk", "Sorr", "Tavi"]
ENDS = ["el", "ard", "ith", "ow", "an", "ere", "ock", "ay"]
LANDMARKS = ["Bridge", "Tower", "Library", "Observatory", "Mill", "Lighthouse", "Museum", "Aqueduct", "Chapel",
             "Theatre"]
JOBS = ["carpenter", "botanist", "cartographer", "glassblower", "surveyor", "clockmaker", "astronomer", "engraver",
        "shipwright", "violinist", "beekeeper", "archivist"]
ITEMS = [("notebook", "notebooks"), ("pen", "pens"), ("loaf of bread", "loaves of bread"), ("apple", "apples"),
         ("jar of honey", "jars of honey"), ("bag of rice", "bags of rice"), ("candle", "candles"),
         ("ball of yarn", "balls of yarn"), ("tin of paint", "tins of paint"), ("packet of seeds", "packets of seeds"),
         ("bottle of juice", "bottles of juice"), ("roll of tape", "rolls of tape")]


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def people(rng: random.Random, n: int) -> list[str]:
    """n distinct full names."""
    out: list[str] = []
    while len(out) < n:
        p = person(rng)
        if p not in out:
            out.append(p)
    return out


def first_names(rng: random.Random, n: int) -> list[str]:
    """The distinct first names of n distinct people (fewer than n where two share one)."""
    return list(dict.fromkeys(p.split()[0] for p in people(rng, n)))


def landmarks(rng: random.Random, n_stems: int) -> list[str]:
    """Look-alike landmark names: each stem names two or three landmarks of different kinds."""
    out = []
    for st in rng.sample(STEMS, n_stems):
        name = st + rng.choice(ENDS)
        out += [f"{name} {k}" for k in rng.sample(LANDMARKS, rng.randint(2, 3))]
    return out


def letters(n: int) -> list[str]:
    return [f"({chr(65 + i)})" for i in range(n)]


def money(x: float) -> str:
    """$12, $12.50."""
    return f"${x:,.2f}".replace(".00", "")
