"""Lookup tools for the `lookup` kind of synthetic-tools: functions that fetch one fact about one kind of thing.

BFCL's irrelevance set often offers a function from the same field as the request that returns a different fact:
the boiling point of a substance for a freezing-point question, an animal's population growth for how to grow a
herd, flight timings for a recipe. The catalog tools of `synthetic_tools` never stand that close to a request (related
tools are kept apart there), so a model trained on them learns "same topic: call it". This module holds ~60 such
functions as a table (subjects: animals, movies, cities, countries, ...; each with its facts), so that the `lookup`
kind can offer the function for the asked fact, or only its neighbours (another fact of the same subject, the same
fact of another subject, or something unrelated), and the reasoning says what each one gets before deciding.

Written from general knowledge; nothing here comes from BFCL's data. The functions are never run (a lookup item
stops at the call or at the refusal), so no fact values are made up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Subject:
    key: str  # "animal": part of the function names
    noun: str  # "an animal": how a description names what the function takes
    param: str  # "species": the function's one argument
    values: tuple[str, ...]  # what a request asks about ("lion")
    say: str  # how a request names a value: "the {v}" (the lion), "{v}" (Paris)
    facts: tuple[tuple[str, str], ...]  # (key, phrase): ("diet", "the diet")


SUBJECTS: tuple[Subject, ...] = (
    Subject("animal", "an animal species", "species",
            ("lion", "zebra", "giant panda", "gray wolf", "bald eagle", "blue whale", "cheetah", "koala", "polar bear",
             "red fox", "sea otter", "snow leopard"), "the {v}",
            (("diet", "the diet"), ("habitat", "the habitat"), ("lifespan", "the average lifespan"),
             ("top_speed", "the top speed"), ("conservation_status", "the conservation status"),
             ("population", "the population"))),
    Subject("movie", "a movie", "title",
            ("Inception", "Titanic", "The Matrix", "Casablanca", "Jaws", "Up", "Frozen", "Gladiator", "Alien",
             "Amelie", "Parasite", "Vertigo"), "{v}",
            (("director", "the director"), ("release_year", "the release year"), ("cast", "the cast"),
             ("box_office", "the box office earnings"), ("rating", "the rating"), ("running_time", "the running time"),
             ("origin", "the country of origin"))),
    Subject("city", "a city", "city",
            ("Paris", "Tokyo", "Nairobi", "Lima", "Toronto", "Oslo", "Seoul", "Cairo", "Denver", "Lisbon", "Osaka",
             "Vienna"), "{v}",
            (("population", "the population"), ("time_zone", "the time zone"), ("elevation", "the elevation"),
             ("mayor", "the mayor"), ("air_quality", "the air quality index"), ("rainfall", "the average rainfall"),
             ("temperature", "the average temperature"))),
    Subject("country", "a country", "country",
            ("France", "Japan", "Brazil", "Canada", "Kenya", "India", "Norway", "Mexico", "Egypt", "Australia",
             "Chile", "Vietnam"), "{v}",
            (("capital", "the capital"), ("population", "the population"), ("gdp", "the GDP"),
             ("language", "the official language"), ("currency", "the currency"),
             ("gini", "the Gini coefficient"), ("time_zone", "the time zone"))),
    Subject("book", "a book", "title",
            ("Dune", "Emma", "Beloved", "Ulysses", "Dracula", "Middlemarch", "Rebecca", "Walden", "Frankenstein",
             "Persuasion"), "{v}",
            (("author", "the author"), ("publication_year", "the publication year"), ("page_count", "the page count"),
             ("genre", "the genre"), ("rating", "the rating"))),
    Subject("dish", "a dish", "dish",
            ("lasagna", "paella", "ramen", "moussaka", "pad thai", "goulash", "risotto", "falafel", "pho",
             "shakshuka"), "{v}",
            (("ingredients", "the ingredients"), ("calories", "the calories per serving"),
             ("cooking_time", "the cooking time"), ("origin", "the country of origin"))),
    Subject("element", "a chemical element", "element",
            ("iron", "copper", "gold", "helium", "sodium", "carbon", "oxygen", "silver", "neon", "zinc"), "{v}",
            (("atomic_number", "the atomic number"), ("atomic_mass", "the atomic mass"),
             ("melting_point", "the melting point"), ("boiling_point", "the boiling point"),
             ("discoverer", "the discoverer"), ("density", "the density"))),
    Subject("planet", "a planet", "planet",
            ("Mercury", "Venus", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"), "{v}",
            (("mass", "the mass"), ("radius", "the radius"), ("moons", "the number of moons"),
             ("distance", "the distance from the Sun"), ("orbital_period", "the orbital period"),
             ("temperature", "the surface temperature"), ("density", "the density"))),
    Subject("company", "a company", "company",
            ("Toyota", "Nestle", "Siemens", "Samsung", "Nike", "Adidas", "Ikea", "Lego", "Spotify", "Airbus"), "{v}",
            (("ceo", "the CEO"), ("headquarters", "the headquarters"), ("founding_year", "the founding year"),
             ("employees", "the number of employees"), ("revenue", "the annual revenue"))),
    Subject("team", "a sports team", "team",
            ("Chicago Bulls", "Real Madrid", "Boston Red Sox", "Manchester United", "Green Bay Packers",
             "Toronto Maple Leafs", "FC Barcelona", "New York Yankees"), "the {v}",
            (("coach", "the head coach"), ("stadium", "the home stadium"), ("next_match", "the next match"),
             ("standing", "the league standing"), ("roster", "the roster"), ("founding_year", "the founding year"))),
)


@dataclass(frozen=True)
class Fact:
    subject: Subject
    key: str  # "diet"
    phrase: str  # "the diet"

    @property
    def thing(self) -> str:
        """'the diet of an animal species': what the function gets, as its description says it."""
        return f"{self.phrase} of {self.subject.noun}"

    def describe(self, verb: str = "Get") -> str:
        return f"{verb} {self.thing}."


FACTS: tuple[Fact, ...] = tuple(Fact(s, k, p) for s in SUBJECTS for k, p in s.facts)
_VERBS = ("Get", "Retrieve", "Fetch", "Look up")
_STYLES = ("get_{s}_{k}", "get_{s}_{k}", "{s}.get_{k}", "fetch_{s}_{k}")


def tool_name(fact: Fact, rng: random.Random) -> str:
    return rng.choice(_STYLES).format(s=fact.subject.key, k=fact.key)


def schema(fact: Fact, name: str, rng: random.Random) -> dict[str, Any]:
    s = fact.subject
    examples = ", ".join(f'"{v}"' for v in s.values[:2])
    return {"type": "function", "function": {
        "name": name, "description": fact.describe(rng.choice(_VERBS)),
        "parameters": {"type": "object",
                       "properties": {s.param: {"type": "string", "description": f"The {s.param}, e.g. {examples}."}},
                       "required": [s.param]}}}


_ASKS = ("Tell me {f} of {x}.", "Look up {f} of {x}.", "Find {f} of {x}.", "I'd like to know {f} of {x}.",
         "Can you get {f} of {x}?", "I need {f} of {x}.")


@dataclass(frozen=True)
class Request:
    fact: Fact
    value: str  # the argument: "lion"
    asked: str  # "the diet of the lion"
    text: str  # the user's request

    @property
    def args(self) -> dict[str, str]:
        return {self.fact.subject.param: self.value}


def make_request(fact: Fact, rng: random.Random) -> Request:
    value = rng.choice(fact.subject.values)
    asked = f"{fact.phrase} of {fact.subject.say.format(v=value)}"
    text = rng.choice(_ASKS).format(f=fact.phrase, x=fact.subject.say.format(v=value))
    return Request(fact, value, asked, text[0].upper() + text[1:])


def near_misses(fact: Fact, rng: random.Random, k: int) -> list[Fact]:
    """k other facts: mostly another fact of the same subject (the habitat for the diet of an animal), else the same
    fact of another subject (a city's population for an animal's), else anything."""
    chosen: list[Fact] = []
    while len(chosen) < k:
        left = [f for f in FACTS if f is not fact and f not in chosen]
        same_subject = [f for f in left if f.subject is fact.subject]
        same_fact = [f for f in left if f.key == fact.key]
        roll = rng.random()
        pool = same_subject if roll < 0.6 else same_fact if roll < 0.8 and same_fact else left
        chosen.append(rng.choice(pool))
    return chosen
