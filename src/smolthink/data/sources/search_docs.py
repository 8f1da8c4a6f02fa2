"""Search-grounded question answering: fictional documents with checkable facts, searched with the real tools.

This module owns the document generator and the conversations built on it. A corpus holds a few short documents
(80–300 words, markdown or plain text) about fictional entities of ENTITY_TYPES (a ferry, a bakery, a clinic, a
festival…), each stating facts (opening times, prices, dates, names, counts, codes) as "the {attribute} is
{value}" sentences, plus distractors: entities of the same type with other values, and entities of other types.

A conversation: the user asks for one fact of one entity; the assistant reasons briefly and calls `local_search`
with the question's key words; the tool message is what the real `smolthink.tools.local_search.LocalSearch` returns
over that corpus, run through `smolthink.tools.run_tool_call` as the chat loop runs it (same schema, same passages,
same escaping), so training matches inference; then the assistant answers from the passages, quoting the fact and
the file (the reasoning's sentences are worded in `wording`). In a share of items (UNANSWERABLE_SHARE) the corpus
does not hold the asked fact (the entity's document leaves it out, or the entity has no document): the assistant
says the documents do not say, and invents nothing. In WEB_SHARE of the items `web_search` is offered instead (its
real schema) and the results are fake hits in `web_search.format_results`'s format. `make_unoffered_item` asks the
same kind of question with no search tool on offer: the assistant goes through the offered tools and says it cannot
look the fact up (the experimental kind `no_search_tool`).

Entity and person names come from word pools split in two (`NAME_POOLS`): "train" for training data, "eval" for
smolthink.eval.search_qa, so the eval asks about names no training document used.
Item i is built from `random.Random(f"{seed}:{i}")` alone.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolthink.data.example import Example
from smolthink.data.sources import wording
from smolthink.formats import neutralize_control_tokens
from smolthink.tools import Tool, run_tool_call, tool, validate_arguments
from smolthink.tools.calculator import calculator
from smolthink.tools.web_search import format_results, web_search

UNANSWERABLE_SHARE = 0.25
WEB_SHARE = 0.15
CALCULATOR_SHARE = 0.3  # local_search items that also offer the calculator (which does not fit)
MAX_TRIES = 20  # corpora drawn until the search finds the asked fact (answerable) or the item is consistent

# ------------------------------------------------------------------------------------------------------ name pools

_NAME_WORDS = (
    "Alder", "Birchwood", "Corran", "Dunmore", "Elmstead", "Fenwick", "Glenard", "Harrowby", "Ivybridge", "Juniper",
    "Kestrel", "Larkspur", "Marlow", "Northcott", "Oakhurst", "Pennard", "Quarry", "Ravensby", "Saltmarsh",
    "Thistle", "Umber", "Valemont", "Westerly", "Yarrow", "Ashgrove", "Brackenridge", "Coldwater", "Driftwood",
    "Eastfield", "Foxglove", "Greywell", "Hollins", "Inverlee", "Jasmine", "Kingsmere", "Lindenhall", "Millbrook",
    "Nettlecombe", "Oxbow", "Pinecrest", "Rosemoor", "Sandpiper", "Tidewater", "Upperton", "Wrenfield", "Amberley",
    "Bluebell", "Cobble", "Dovecote", "Emberton", "Fairhaven", "Goldcrest", "Heathrow", "Islay", "Kilbride",
    "Lowther", "Moorside", "Nightingale", "Orchard", "Puffin", "Redcliff", "Starling", "Tamarisk", "Wildmoor",
)
_FIRST_NAMES = (
    "Mira", "Tomas", "Ines", "Oskar", "Leila", "Jonah", "Freya", "Amir", "Signe", "Pablo", "Hana", "Elias", "Noor",
    "Felix", "Greta", "Ravi", "Ada", "Bruno", "Clara", "Dmitri", "Esme", "Farid", "Gwen", "Hugo", "Isla", "Kofi",
    "Lena", "Milo", "Nadia", "Otto", "Priya", "Rosa", "Stellan", "Talia", "Viktor", "Wanda",
)
_LAST_NAMES = (
    "Okafor", "Lindqvist", "Moreau", "Haddad", "Brennan", "Castillo", "Novak", "Achterberg", "Quist", "Sato",
    "Falk", "Ferreira", "Kowalski", "Oduya", "Pellegrini", "Ramsay", "Strand", "Tamura", "Voss", "Whitlock",
    "Abernathy", "Baptiste", "Cordell", "Dahl", "Ekwueme", "Fontaine", "Galloway", "Holm", "Ibarra", "Jansen",
)
_STREETS = (
    "Quay Street", "Mill Lane", "Harbour Road", "Chapel Row", "Station Road", "Orchard Way", "Market Square",
    "Bridge Street", "Church Lane", "Kiln Road", "Beacon Hill", "Fisher Lane", "Tanner Street", "Castle Walk",
)


def _split(pool: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Every fifth word (by position) is held out for the eval; the split never depends on anything else."""
    return {"train": tuple(w for i, w in enumerate(pool) if i % 5), "eval": pool[::5]}


NAME_POOLS = {"entity": _split(_NAME_WORDS), "first": _split(_FIRST_NAMES), "last": _split(_LAST_NAMES)}
POOLS = ("train", "eval")

# ------------------------------------------------------------------------------------------------------ values

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _time(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{rng.randint(6, 11)}:{rng.choice(range(0, 60, 5)):02d} am"
    return f"{rng.randint(1, 9)}:{rng.choice(range(0, 60, 5)):02d} pm"


def _price(rng: random.Random) -> str:
    return f"{rng.choice(('€', '£', '$'))}{rng.randint(2, 95)}.{rng.choice(range(5, 100, 5)):02d}"


def _value(kind: str, rng: random.Random, pool: str) -> str:
    """A value of a kind, as written in the document and quoted in the answer."""
    if kind == "time":
        return _time(rng)
    if kind == "price":
        return _price(rng)
    if kind == "day":
        return rng.choice(_DAYS)
    if kind == "year":
        return str(rng.randint(1852, 2019))
    if kind == "date":
        return f"{rng.randint(1, 28)} {rng.choice(_MONTHS)}"
    if kind == "count":
        return str(rng.randint(12, 480))
    if kind == "minutes":
        return f"{rng.randint(11, 95)} minutes"
    if kind == "km":
        return f"{rng.randint(3, 40)}.{rng.randint(1, 9)} km"
    if kind == "person":
        first, last = NAME_POOLS["first"][pool], NAME_POOLS["last"][pool]
        return f"{rng.choice(first)} {rng.choice(last)}"
    if kind == "address":
        return f"{rng.randint(2, 98)} {rng.choice(_STREETS)}"
    if kind == "phone":
        return f"0{rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(100, 999)}"
    if kind == "code":
        return f"{rng.choice('ABCDEFGHKMNPRSTW')}{rng.choice('ABCDEFGHKMNPRSTW')}-{rng.randint(1000, 9999)}"
    raise ValueError(f"unknown value kind {kind!r}")


# ------------------------------------------------------------------------------------------------------ entity types


@dataclass(frozen=True)
class EntityType:
    key: str  # "bakery"
    suffixes: tuple[str, ...]  # the entity is "{name word} {suffix}": "Alder Bakery"
    about: str  # "a bakery", for the intro and the reasoning
    intro: tuple[str, ...]  # first sentences; {name} is the entity, {town} a town
    filler: tuple[str, ...]  # fact-free sentences that make the document read like one
    facts: tuple[tuple[str, str], ...]  # (attribute, value kind): "the {attribute} of {name} is {value}"


ENTITY_TYPES = (
    EntityType("bakery", ("Bakery", "Bakehouse"), "a bakery",
               ("{name} is a family bakery near the harbour in {town}.", "{name} has baked bread in {town} for years."),
               ("Everything is baked on the premises before dawn.", "Regulars say the sourdough sells out first.",
                "There are two small tables by the window.", "Cakes for birthdays can be ordered in advance."),
               (("opening time", "time"), ("closing day", "day"), ("price of a rye loaf", "price"),
                ("head baker", "person"), ("order line", "phone"), ("founding year", "year"))),
    EntityType("ferry", ("Ferry", "Ferry Line"), "a ferry service",
               ("{name} links {town} with the islands across the bay.", "{name} runs boats out of {town} harbour."),
               ("Bicycles travel free on every crossing.", "In winter storms the crossings may be cancelled.",
                "Tickets can be bought on board or at the kiosk.", "Dogs on a lead are welcome on deck."),
               (("first departure", "time"), ("last departure", "time"), ("adult return fare", "price"),
                ("crossing time", "minutes"), ("number of crossings per day", "count"), ("booking code", "code"))),
    EntityType("museum", ("Museum", "Heritage Museum"), "a museum",
               ("{name} tells the story of {town} and its people.", "{name} sits in an old warehouse in {town}."),
               ("The collection includes maps, tools and photographs.", "Guided tours start at the front desk.",
                "The café on the top floor looks over the river.", "School groups visit on weekday mornings."),
               (("opening time", "time"), ("entry fee", "price"), ("curator", "person"), ("closing day", "day"),
                ("number of objects on display", "count"), ("year it opened", "year"))),
    EntityType("clinic", ("Clinic", "Health Centre"), "a health clinic",
               ("{name} is the walk-in clinic for {town} and the villages around it.",
                "{name} offers general care to residents of {town}."),
               ("Bring your health card to every appointment.", "Interpreters can be booked on request.",
                "Parking is available behind the building.", "Prescriptions can be collected at the desk."),
               (("opening time", "time"), ("appointment line", "phone"), ("lead doctor", "person"),
                ("address", "address"), ("closing day", "day"), ("consultation fee", "price"))),
    EntityType("festival", ("Festival", "Music Festival"), "a festival",
               ("{name} fills the streets of {town} every summer.", "{name} is a music and food festival in {town}."),
               ("Local bands play on three stages.", "Food stalls line the main square.",
                "Volunteers help with setup and clearing up.", "Children under twelve enter free with an adult."),
               (("start date", "date"), ("day ticket price", "price"), ("festival director", "person"),
                ("number of stages", "count"), ("year it was first held", "year"), ("ticket code", "code"))),
    EntityType("company", ("Ltd", "Works", "Trading Company"), "a company",
               ("{name} is a small manufacturer based in {town}.", "{name} makes garden tools in {town}."),
               ("Its products are sold in hardware shops across the region.",
                "The workshop can be visited by appointment.",
                "Most staff live within walking distance.", "Orders over a certain size ship free."),
               (("chief executive", "person"), ("number of employees", "count"), ("founding year", "year"),
                ("head office address", "address"), ("customer service line", "phone"), ("supplier code", "code"))),
    EntityType("trail", ("Trail", "Ridge Walk", "Coast Path"), "a hiking trail",
               ("{name} is a waymarked hiking trail starting just outside {town}.",
                "{name} follows the cliffs north of {town}."),
               ("Wear sturdy boots: parts of the path are rocky.", "There is no drinking water along the way.",
                "The views from the top are worth the climb.", "Sheep graze on the upper slopes."),
               (("length", "km"), ("walking time", "minutes"), ("number of waymarks", "count"),
                ("ranger", "person"), ("trailhead address", "address"), ("permit code", "code"))),
    EntityType("school", ("School", "Primary School", "Academy"), "a school",
               ("{name} is a primary school in the centre of {town}.", "{name} serves the families of {town}."),
               ("Pupils grow vegetables in the school garden.", "There is a choir and a chess club.",
                "Parents are welcome at the open mornings.", "The library is open to pupils at lunchtime."),
               (("head teacher", "person"), ("number of pupils", "count"), ("school start time", "time"),
                ("year it was built", "year"), ("office phone", "phone"), ("enrolment deadline", "date"))),
    EntityType("library", ("Library", "Public Library"), "a public library",
               ("{name} is the public library of {town}.", "{name} lends books, films and tools in {town}."),
               ("Membership is free for residents.", "There is a reading corner for children.",
                "Computers can be booked for an hour at a time.", "Late returns are gently reminded by post."),
               (("opening time", "time"), ("librarian", "person"), ("number of books", "count"),
                ("closing day", "day"), ("late fee per week", "price"), ("address", "address"))),
    EntityType("pool", ("Swimming Pool", "Lido"), "a swimming pool",
               ("{name} is the open-air pool of {town}.", "{name} has a heated pool in {town}."),
               ("Lifeguards are on duty during all sessions.", "Lockers take a coin that is returned.",
                "Lane swimming is popular early in the day.", "Swimming lessons are run in small groups."),
               (("opening time", "time"), ("adult swim price", "price"), ("pool length in metres", "count"),
                ("closing day", "day"), ("season start date", "date"), ("swim coach", "person"))),
    EntityType("market", ("Market", "Farmers Market"), "a market",
               ("{name} brings local growers to {town} once a week.", "{name} is held in the old square of {town}."),
               ("Bring your own bags: stalls avoid plastic.", "Most stalls take cash and cards.",
                "Seasonal fruit sells quickly in the morning.", "A brass band sometimes plays by the fountain."),
               (("market day", "day"), ("opening time", "time"), ("number of stalls", "count"),
                ("stall fee", "price"), ("market manager", "person"), ("address", "address"))),
    EntityType("cinema", ("Cinema", "Picture House"), "a cinema",
               ("{name} is an independent cinema in {town}.", "{name} shows new films and classics in {town}."),
               ("The seats were restored a few years ago.", "Popcorn is made fresh every evening.",
                "Members get early booking for premieres.", "Subtitled screenings run every week."),
               (("first screening time", "time"), ("ticket price", "price"), ("number of seats", "count"),
                ("manager", "person"), ("box office line", "phone"), ("year it opened", "year"))),
    EntityType("bike_rental", ("Bike Hire", "Cycle Rental"), "a bike rental shop",
               ("{name} rents bicycles to visitors of {town}.", "{name} keeps a fleet of bikes near {town} station."),
               ("Helmets and locks come with every bike.", "Electric bikes must be booked ahead.",
                "Route maps are free at the counter.", "Punctures are fixed while you wait."),
               (("day hire price", "price"), ("opening time", "time"), ("number of bikes", "count"),
                ("deposit", "price"), ("owner", "person"), ("booking code", "code"))),
    EntityType("hotel", ("Hotel", "Inn", "Guesthouse"), "a hotel",
               ("{name} is a small hotel overlooking the bay at {town}.",
                "{name} welcomes guests in the heart of {town}."),
               ("Breakfast is served in the garden room.", "Rooms at the back are the quietest.",
                "The bar stocks beer from a local brewery.", "Late arrivals should call ahead."),
               (("check-in time", "time"), ("price of a double room", "price"), ("number of rooms", "count"),
                ("reception line", "phone"), ("owner", "person"), ("year it opened", "year"))),
    EntityType("choir", ("Choir", "Singers", "Choral Society"), "a choir",
               ("{name} is a community choir that rehearses in {town}.", "{name} has sung in {town} for decades."),
               ("No audition is needed to join.", "The choir sings at the winter fair.",
                "Tea and biscuits follow every rehearsal.", "Sheet music is lent to new members."),
               (("rehearsal day", "day"), ("rehearsal time", "time"), ("conductor", "person"),
                ("number of members", "count"), ("yearly membership fee", "price"), ("concert date", "date"))),
    EntityType("garden", ("Community Garden", "Allotments"), "a community garden",
               ("{name} is a shared garden on the edge of {town}.", "{name} grows food on old railway land in {town}."),
               ("Tools are kept in the green shed.", "Compost is made from the members' scraps.",
                "A beehive sits in the far corner.", "Workdays end with a shared lunch."),
               (("number of plots", "count"), ("yearly plot rent", "price"), ("coordinator", "person"),
                ("workday", "day"), ("gate code", "code"), ("address", "address"))),
    EntityType("dentist", ("Dental Practice", "Dental Surgery"), "a dental practice",
               ("{name} is a dental practice on the high street of {town}.", "{name} cares for teeth in {town}."),
               ("New patients fill in a short form first.", "Children are seen after school.",
                "Emergency slots are kept free each morning.", "The waiting room has a fish tank."),
               (("opening time", "time"), ("check-up price", "price"), ("dentist", "person"),
                ("appointment line", "phone"), ("closing day", "day"), ("address", "address"))),
)
BY_TYPE = {t.key: t for t in ENTITY_TYPES}
_TOWNS = ("Port Elwyn", "Carrick Bay", "Lowmoor", "Saltby", "Westhaven", "Kirkholm", "Brindle", "Tolcarne")

_FACT_SENTENCES = ("The {attribute} of {name} is {value}.", "{name}'s {attribute} is {value}.",
                   "At {name}, the {attribute} is {value}.", "For {name}, the {attribute} is {value}.")
_QUESTIONS = ("What is the {attribute} of {name}?", "Do you know the {attribute} of {name}?",
              "What's the {attribute} for {name}?", "Can you tell me the {attribute} of {name}?",
              "I need the {attribute} of {name}. What is it?")
_CLOSINGS = ("Details on this page were last checked by the {town} visitor office.",
             "Questions about anything above can be sent to the {town} community board.",
             "This page is kept up to date by volunteers from {town}; corrections are welcome.",
             "Information may change during public holidays, so ask locally in {town} when in doubt.")
_LOCAL_HINTS = ("", "", "Check my notes: ", "Look in my documents: ", "From my files: ")


@dataclass
class Entity:
    type: EntityType
    name: str  # "Alder Bakery"
    town: str
    facts: dict[str, str]  # attribute → value

    def document(self, rng: random.Random, leave_out: str | None = None) -> str:
        """80–300 words: a title, an intro, then paragraphs that each name the entity and state facts among filler
        (every paragraph names the entity, so a passage cut from it is found by a search for the name)."""
        facts = [(a, v) for a, v in self.facts.items() if a != leave_out]
        rng.shuffle(facts)
        filler = list(self.type.filler)
        rng.shuffle(filler)
        paragraphs = [rng.choice(self.type.intro).format(name=self.name, town=self.town) + " " + filler.pop()]
        for start in range(0, len(facts), 2):
            sentences = [rng.choice(_FACT_SENTENCES).format(name=self.name, attribute=a, value=v)
                         for a, v in facts[start:start + 2]]
            if filler:
                sentences.insert(rng.randint(0, len(sentences)), filler.pop())
            paragraphs.append(" ".join(sentences))
        paragraphs.append(rng.choice(_CLOSINGS).format(town=self.town))
        heading = f"# {self.name}" if rng.random() < 0.7 else f"{self.name}\n{'=' * len(self.name)}"
        return heading + "\n\n" + "\n\n".join(paragraphs) + "\n"


def _entity(rng: random.Random, etype: EntityType, pool: str, taken: set[str]) -> Entity:
    while True:
        name = f"{rng.choice(NAME_POOLS['entity'][pool])} {rng.choice(etype.suffixes)}"
        if name not in taken:
            taken.add(name)
            break
    facts = {attribute: _value(kind, rng, pool) for attribute, kind in etype.facts}
    return Entity(etype, name, rng.choice(_TOWNS), facts)


def _slug(name: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


# ------------------------------------------------------------------------------------------------------ key words

_STOPWORDS = frozenset(
    "a an and are as at be but by can do does for from i if in into is it its know look me my need no not of on or "
    "s such tell that the their then there these they this to was what whats what's when where which who will with "
    "you your check notes documents files".split())


def key_words(question: str) -> list[str]:
    """The question's content words, in order, without repeats: what a search query is made of."""
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9'-]*", question)
    return list(dict.fromkeys(w for w in words if w.lower() not in _STOPWORDS and len(w) > 1))


# ------------------------------------------------------------------------------------------------------ building


@dataclass
class Corpus:
    files: dict[str, str]  # path relative to the documents folder → text
    target: Entity
    attribute: str
    answerable: bool
    target_path: str | None  # the asked entity's document (None: it has none)


def _corpus(rng: random.Random, pool: str, answerable: bool) -> Corpus:
    """The asked entity (its document holds the fact, or leaves it out, or is missing), 1–2 entities of its type
    with other values, and 1–3 entities of other types."""
    taken: set[str] = set()
    etype = rng.choice(ENTITY_TYPES)
    target = _entity(rng, etype, pool, taken)
    attribute = rng.choice(list(target.facts))
    value = target.facts[attribute]
    entities = [_entity(rng, etype, pool, taken) for _ in range(rng.randint(1, 2))]
    for other in entities:  # a same-type distractor stating the asked value would make the item ambiguous
        while other.facts[attribute] == value:
            other.facts[attribute] = _value(dict(etype.facts)[attribute], rng, pool)
    others = rng.sample([t for t in ENTITY_TYPES if t is not etype], rng.randint(1, 3))
    entities += [_entity(rng, t, pool, taken) for t in others]
    with_target = answerable or rng.random() < 0.6  # unanswerable: the fact left out, or no document at all
    if with_target:
        entities.append(target)
    rng.shuffle(entities)
    files = {}
    for e in entities:
        folder = rng.choice(("", "", "", "notes/", "town/"))
        path = f"{folder}{_slug(e.name)}{rng.choice(('.md', '.md', '.txt'))}"
        files[path] = e.document(rng, leave_out=attribute if e is target and not answerable else None)
        if e is target:
            target_path = path
    return Corpus(files, target, attribute, answerable, target_path if with_target else None)


def _mentions(text: str, value: str) -> bool:
    return re.search(rf"(?<![\w.:]){re.escape(value)}(?![\w:]|\.\d)", text) is not None


def _local_results(files: dict[str, str], query: str) -> tuple[Tool, str]:
    """The real local_search over the corpus, run as the chat loop runs a call: (the tool, the tool message text)."""
    from smolthink.tools.local_search import LocalSearch

    with tempfile.TemporaryDirectory(prefix="smolthink-search-") as folder:
        for path, text in files.items():
            (Path(folder) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(folder) / path).write_text(text, encoding="utf-8")
        search = LocalSearch(folder).as_tool()
        result = run_tool_call([search], "local_search", {"query": query})
    if not result.ok:
        raise RuntimeError(f"search-docs: local_search failed on a generated corpus: {result.content}")
    return search, result.content


def search_tool_schema() -> dict[str, Any]:
    """The local_search schema as chat and serve offer it (it does not depend on the folder)."""
    return _local_results({"a.txt": "schema probe"}, "schema")[0].schema


def _web_hits(rng: random.Random, corpus: Corpus) -> list[dict[str, str]]:
    """Fake web results made from the documents: the asked entity's page (when there is one) among up to two
    others, each a title, a URL and a snippet (the document's paragraphs, the one stating the asked value first)."""
    value = corpus.target.facts[corpus.attribute]
    hits = []
    for path, text in corpus.files.items():
        lines = text.splitlines()
        title = lines[0].lstrip("# ").strip()
        paragraphs = [" ".join(p.split()) for p in "\n".join(lines[1:]).split("\n\n") if p.strip("=\n ")]
        paragraphs.sort(key=lambda p: not _mentions(p, value))
        hits.append({"title": f"{title} | {rng.choice(('Official site', 'Visit', 'Guide', 'Local listings'))}",
                     "href": f"https://www.{_slug(title)}.example/{rng.choice(('', 'about', 'info', 'visit'))}",
                     "body": " ".join(paragraphs), "target": path == corpus.target_path})
    wanted = [h for h in hits if h.pop("target")]
    rest = [h for h in hits if h not in wanted]
    rng.shuffle(rest)
    ordered = rest[:2]
    for hit in wanted:
        ordered.insert(rng.randint(0, len(ordered)), hit)
    return ordered


def _call(name: str, args: dict[str, Any], schema: dict[str, Any], reasoning: str) -> dict[str, Any]:
    problem = validate_arguments(schema, args)
    if problem is not None:
        raise ValueError(f"search-docs generated invalid arguments for {name}: {problem} ({args!r})")
    return {"role": "assistant", "content": "", "reasoning": f"{reasoning} {wording.call_decision(name, args)}",
            "tool_calls": [{"type": "function", "function": {"name": name, "arguments": args}}]}


def _blocks(results: str) -> list[tuple[str, str]]:
    """(source, text) of each "[n] source" block of a local_search or web_search result."""
    heads = list(re.finditer(r"^\[(\d+)\] (.+)$", results, re.M))
    ends = [h.start() for h in heads[1:]] + [len(results)]
    return [(h.group(2), results[h.end():end]) for h, end in zip(heads, ends)]


def _answer(rng: random.Random, corpus: Corpus, results: str, tool_name: str) -> tuple[str, str]:
    """(reasoning, answer) after the results: the fact quoted with where it was found, or "not in there"."""
    target, attribute = corpus.target, corpus.attribute
    value = target.facts[attribute]
    blocks = _blocks(results)
    where = "the documents" if tool_name == "local_search" else "the search results"
    if corpus.answerable:
        n, (source, _text) = next((n, b) for n, b in enumerate(blocks, start=1) if _mentions(b[1], value))
        reasoning = wording.found_in_result(rng, n, source, attribute, target.name, value)
        source_text = f"in {source}" if tool_name == "local_search" else f"on {source}"
        answer = rng.choice(("The {a} of {e} is {v} (according to {s}).", "According to {s}, the {a} of {e} is {v}.",
                             "{E}'s {a} is {v}, as stated {w}.")).format(
            a=attribute, e=target.name, E=target.name, v=value, s=source, w=source_text)
        return reasoning, answer
    about = sorted({name for name in _named_entities(results)} - {target.name})
    reasoning = wording.not_in_results(about, attribute, target.name)
    answer = rng.choice((
        "I couldn't find the {a} of {e} in {w}. You may want to check another source.",
        "{W} do not say what the {a} of {e} is, so I can't tell you.",
        "The {a} of {e} is not mentioned in {w} I found.")).format(
        a=attribute, e=target.name, w=where, W=where[0].upper() + where[1:])
    return reasoning, answer


_SUFFIXES = sorted({s for t in ENTITY_TYPES for s in t.suffixes}, key=len, reverse=True)
_ENTITY_RE = re.compile(rf"\b((?:{'|'.join(map(re.escape, _NAME_WORDS))}) (?:{'|'.join(map(re.escape, _SUFFIXES))}))\b")


def _named_entities(text: str) -> list[str]:
    return list(dict.fromkeys(_ENTITY_RE.findall(text)))


def _build(rng: random.Random, *, pool: str, web: bool) -> tuple[list[dict], list[dict], dict]:
    answerable = rng.random() >= UNANSWERABLE_SHARE
    question_template = rng.choice(_QUESTIONS)
    hint = "" if web else rng.choice(_LOCAL_HINTS)
    for _ in range(MAX_TRIES):
        corpus = _corpus(rng, pool, answerable)
        target, attribute = corpus.target, corpus.attribute
        value = target.facts[attribute]
        question = hint + question_template.format(attribute=attribute, name=target.name)
        query = " ".join(key_words(question_template.format(attribute=attribute, name=target.name)))
        if web:
            schema = tool(web_search).schema
            name, args = "web_search", {"search_str": query}
            results = neutralize_control_tokens(format_results(_web_hits(rng, corpus)))
            offered = [schema]
        else:
            search, results = _local_results(corpus.files, query)
            schema, name, args = search.schema, "local_search", {"query": query}
            offered = [schema, tool(calculator).schema] if rng.random() < CALCULATOR_SHARE else [schema]
        # Only the asked entity's document may state the value (another entity's equal price would be ambiguous);
        # answerable: the search must find it (a miss is redrawn); unanswerable: no document states it.
        elsewhere = any(_mentions(text, value) for path, text in corpus.files.items()
                        if path != corpus.target_path or not answerable)
        found = any(_mentions(text, value) for _source, text in _blocks(results))
        if not elsewhere and (found or not answerable):
            break
    else:
        raise RuntimeError(f"search-docs: no consistent corpus in {MAX_TRIES} tries")
    rng.shuffle(offered)
    reasoning = wording.search_plan(attribute, target.name, target.type.about, web=web)
    after_reasoning, answer = _answer(rng, corpus, results, name)
    messages = [{"role": "user", "content": question},
                _call(name, args, schema, reasoning),
                {"role": "tool", "name": name, "content": results},
                {"role": "assistant", "content": answer, "reasoning": after_reasoning}]
    extra = {"answerable": answerable, "fact": value, "attribute": attribute, "entity": target.name,
             "entity_type": target.type.key, "tool": name, "query": query, "question": question,
             "corpus": corpus.files}
    return messages, offered, extra


_NO_TOOL_ANSWERS = ("I don't know the {a} of {e}, and none of the tools I have can look it up.",
                    "I can't look up the {a} of {e}: I have no search tool here, and I don't know it myself.",
                    "Sorry, I don't know the {a} of {e}, and I have no way to search for it with these tools.")


def make_unoffered_item(rng: random.Random, *, pool: str = "train") -> tuple[list[dict], list[dict], dict]:
    """The same kind of question when no search tool is offered (1–3 generated functions, sometimes the
    calculator): the assistant checks the tools list, finds no search tool and says it cannot look the fact up,
    with no call and no invented value. It teaches that local_search is called only when it is on offer."""
    from smolthink.data.sources import function_space

    corpus = _corpus(rng, pool, True)
    target, attribute = corpus.target, corpus.attribute
    question = rng.choice(_LOCAL_HINTS) + rng.choice(_QUESTIONS).format(attribute=attribute, name=target.name)
    offered = []
    for _ in range(rng.randint(1, 3)):
        dom = rng.choice(function_space.domains("train"))
        fn = function_space.make_function(rng, dom, rng.choice(dom.entities), rng.choice(function_space.ACTIONS))
        if fn.name not in {t["function"]["name"] for t in offered}:
            offered.append(fn.schema)
    if rng.random() < CALCULATOR_SHARE:
        offered.append(tool(calculator).schema)
    rng.shuffle(offered)
    reasoning = wording.no_search_tool(attribute, target.name, target.type.about, offered)
    answer = rng.choice(_NO_TOOL_ANSWERS).format(a=attribute, e=target.name)
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer, "reasoning": reasoning}]
    extra = {"answerable": False, "fact": target.facts[attribute], "attribute": attribute, "entity": target.name,
             "entity_type": target.type.key, "tool": None, "question": question}
    return messages, offered, extra


def make_item(rng: random.Random, *, pool: str = "train", web_share: float = WEB_SHARE
              ) -> tuple[list[dict], list[dict], dict]:
    """One conversation: (messages, offered tool schemas, extra). `extra` holds "answerable", "fact" (the asked
    value, as the documents write it), "attribute", "entity", "entity_type", "tool" (local_search or web_search),
    "query", "question" and "corpus" ({path: text}, the documents searched; for web_search, the pages the hits
    come from). `pool`: "train" or "eval" names (NAME_POOLS)."""
    if pool not in POOLS:
        raise ValueError(f"unknown name pool {pool!r}; valid pools: {', '.join(POOLS)}")
    return _build(rng, pool=pool, web=rng.random() < web_share)


def generate(n: int, *, seed: int, name: str = "search-qa") -> Iterator[Example]:
    """n conversations from the training name pool; item i is built from Random(f"{seed}:{i}") alone."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    for i in range(n):
        messages, tools, extra = make_item(random.Random(f"{seed}:{i}"))
        metadata = {"kind": "search", "seed": seed, "index": i, "tool": extra["tool"],
                    "answerable": extra["answerable"], "fact": extra["fact"], "entity_type": extra["entity_type"]}
        yield Example(source=name, row_id=f"{seed}:{i}", messages=messages, tools=tools, metadata=metadata)
