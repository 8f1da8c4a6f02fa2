"""A procedurally varied function space: random functions as JSON schemas, requests for them, and the decision.

The catalog of synthetic-tools is ~30 hand-written functions; a model trained on it learns the catalog, not how to
read a tools list. Here every item draws its functions afresh: a domain (library, fleet, garden, clinic, …, 24 of
them, each with two entities and its own value pools), an action (get, list, count, add, update, remove, assign,
schedule, report, record, search, set status, tag) and a name composed from a verb, the entity noun and an optional
qualifier, sometimes under a dotted namespace (`fleet.schedule_truck_service`, `count_books`, `get_book_details`).
Descriptions come from the same parts ("Schedule a service for a truck on a date."), parameters are typed (string,
integer, number, boolean, enum, array of strings or numbers, nested object) and optional ones say their default.

An item is one of three decisions, made from the descriptions:

    one       one offered function serves the request (0–4 others offered): call it
    several   the request asks for two or three things, each served by an offered function (or the same one twice
              with other values): all the calls in one assistant turn
    none      no offered function serves it: near misses from the same domain (same entity, another action; same
              action, another entity) and unrelated functions: say so and decline, no call

The user message states every required value (and some optional ones) verbatim, so the arguments are recoverable.
The assistant's reasoning is built from the structure (its sentences are worded in `wording`): what is asked, each
offered function's description (near misses in full, other domains in a word) with its verdict, then the decision. A
share of the call items go on with the tool results (fake, deterministic JSON) and an answer quoting them. Every
call is validated against its schema while generating: a bug here raises instead of writing bad data.

Families: `family="heldout"` uses only the domains (and so entity nouns, value pools) in HELDOUT_DOMAINS and may use
the held-out verb synonyms; `family="train"` never does. The eval suite `smolthink.eval.functions` draws from the
held-out family, so its functions are never seen in training.

Item i of `generate` is built from `random.Random(f"{seed}:{i}")` alone.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smolthink.data.example import Example, SourceError
from smolthink.data.sources import wording
from smolthink.data.sources.synthetic_reasoning import join_words
from smolthink.tools import validate_arguments

FAMILIES = ("train", "heldout")
DECISIONS = ("one", "several", "none")
DECISION_WEIGHTS = (0.45, 0.25, 0.30)  # of DECISIONS, by default; a recipe's `decisions` sets them
RESULT_SHARE = 0.4  # of the call items, the share that go on with the tool results and an answer (`result_share`)
MAX_REASONING_WORDS = 80

# --------------------------------------------------------------------------------------------------------- domains


@dataclass(frozen=True)
class Entity:
    noun: str  # "book": in names (snake_case) and descriptions
    plural: str
    key: str  # the identifying parameter: "title"
    key_noun: str  # how descriptions name it: "title"
    keys: tuple[str, ...] | str  # the key's values, or a prefix ("PT-") for generated ids ("PT-4821")
    measure: str  # a numeric attribute's parameter name: "copies"
    measure_noun: str  # "copy count": "a copy count of 7"
    lo: float
    hi: float
    decimal: bool  # number (one decimal) rather than integer
    unit: str  # "" or "km": "a mileage of 4200 km"
    states: tuple[str, str, str]  # the status enum


@dataclass(frozen=True)
class Domain:
    key: str  # "library": also a namespace
    label: str  # "the library": how reasoning names another domain
    place_noun: str  # "branch"
    places: tuple[str, ...]
    person_noun: str
    event: str  # "service": what `schedule` schedules
    tags: tuple[str, ...]
    entities: tuple[Entity, Entity]


def _e(noun: str, plural: str, key: str, key_noun: str, keys: tuple[str, ...] | str, measure: str,
       measure_noun: str, lo: float, hi: float, states: str, unit: str = "", decimal: bool = False) -> Entity:
    a, b, c = states.split()
    return Entity(noun, plural, key, key_noun, keys, measure, measure_noun, lo, hi, decimal, unit, (a, b, c))


DOMAINS: tuple[Domain, ...] = (
    Domain("library", "the library", "branch", ("Central", "Northside", "Riverside", "Harbor", "Oakwood"), "member",
           "reading session", ("fiction", "history", "children", "reference", "poetry"), (
               _e("book", "books", "title", "title", ("Dune", "Emma", "Beloved", "Ulysses", "Middlemarch", "Ivanhoe"),
                  "copies", "copy count", 1, 12, "available reserved missing"),
               _e("periodical", "periodicals", "periodical_name", "name",
                  ("Nature Weekly", "Art Review", "Chess Monthly", "Sky Notes"), "issues", "issue count", 1, 52,
                  "current archived suspended"))),
    Domain("fleet", "the vehicle fleet", "depot", ("Eastgate", "Westfield", "Portside", "Hillcrest", "Midtown"),
           "driver", "service", ("diesel", "electric", "refrigerated", "long-haul", "urban"), (
               _e("truck", "trucks", "plate", "plate number", "TRK-", "mileage", "mileage", 1000, 90000,
                  "active idle repair", unit="km"),
               _e("trailer", "trailers", "trailer_code", "code", "TR-", "load_kg", "load", 100, 9000,
                  "loaded empty parked", unit="kg", decimal=True))),
    Domain("garden", "the garden", "bed", ("North", "Herb", "Rose", "Pond", "Greenhouse"), "gardener", "pruning",
           ("perennial", "annual", "shade", "edible", "native"), (
               _e("plant", "plants", "species", "species", ("lavender", "basil", "tomato", "fern", "sunflower"),
                  "height_cm", "height", 1, 200, "seedling blooming dormant", unit="cm", decimal=True),
               _e("planter", "planters", "planter_code", "code", "P-", "soil_liters", "soil volume", 5, 80,
                  "planted empty drying", unit="liters"))),
    Domain("clinic", "the clinic", "ward", ("Cedar", "Maple", "Pediatric", "Cardiology", "Radiology"), "doctor",
           "checkup", ("follow-up", "allergy", "chronic", "outpatient", "urgent"), (
               _e("patient", "patients", "record_id", "record id", "PT-", "age", "age", 1, 95,
                  "admitted discharged waiting"),
               _e("prescription", "prescriptions", "rx_code", "code", "RX-", "dose_mg", "dose", 5, 500,
                  "active expired paused", unit="mg", decimal=True))),
    Domain("warehouse", "the warehouse", "aisle", ("Aisle 3", "Aisle 7", "Aisle 12", "Dock B", "Cold Room"), "picker",
           "stock check", ("fragile", "bulky", "perishable", "hazardous", "returnable"), (
               _e("pallet", "pallets", "pallet_id", "pallet id", "PL-", "weight_kg", "weight", 20, 1200,
                  "stored shipped damaged", unit="kg", decimal=True),
               _e("product", "products", "sku", "SKU", ("widget-a", "bolt-m6", "cable-usb", "gasket-9", "hinge-22"),
                  "units", "unit count", 0, 5000, "stocked backordered discontinued"))),
    Domain("school", "the school", "building", ("Elm", "Birch", "Science", "Arts", "West"), "teacher",
           "parent meeting", ("math", "science", "arts", "language", "sports"), (
               _e("student", "students", "student_id", "student id", "ST-", "score", "score", 0, 100,
                  "enrolled graduated suspended", decimal=True),
               _e("course", "courses", "course_name", "course name", ("Algebra I", "Biology", "World History",
                                                                     "Chemistry", "Geometry"),
                  "seats", "seat count", 10, 40, "open full closed"))),
    Domain("hotel", "the hotel", "wing", ("North", "South", "Tower", "Garden", "Annex"), "guest",
           "housekeeping visit", ("sea-view", "accessible", "quiet", "suite", "pet-friendly"), (
               _e("room", "rooms", "room_number", "room number", ("1204", "318", "522", "740", "916"),
                  "nightly_rate", "nightly rate", 60, 450, "vacant occupied cleaning", unit="dollars", decimal=True),
               _e("reservation", "reservations", "reservation_code", "code", "RSV-", "nights", "stay length", 1, 14,
                  "confirmed pending cancelled", unit="nights"))),
    Domain("farm", "the farm", "field", ("East", "West", "Orchard", "Creek", "Hill"), "farmhand", "vet visit",
           ("organic", "dairy", "grazing", "irrigated", "fallow"), (
               _e("herd", "herds", "herd_tag", "herd tag", "H-", "head_count", "head count", 5, 300,
                  "grazing housed sold"),
               _e("tractor", "tractors", "tractor_id", "tractor id", ("JD-5075", "KB-220", "MF-390", "NH-T6"),
                  "fuel_liters", "fuel level", 10, 400, "running parked broken", unit="liters", decimal=True))),
    Domain("museum", "the museum", "gallery", ("East", "Sculpture", "Print", "Atrium", "Modern"), "curator",
           "restoration", ("bronze", "ancient", "modern", "loaned", "textile"), (
               _e("artifact", "artifacts", "catalog_number", "catalog number", "AR-", "age_years", "age", 10, 5000,
                  "displayed stored loaned", unit="years"),
               _e("exhibition", "exhibitions", "exhibition_title", "title",
                  ("Ocean Myths", "Silk Roads", "Early Clocks", "Desert Light"), "visitors", "visitor count", 100,
                  20000, "planned running closed"))),
    Domain("kitchen", "the restaurant kitchen", "station", ("Grill", "Pastry", "Cold", "Saute", "Prep"), "chef",
           "tasting", ("vegan", "spicy", "gluten-free", "seasonal", "signature"), (
               _e("dish", "dishes", "dish_name", "dish name",
                  ("miso ramen", "lamb tagine", "pea risotto", "fish tacos", "plum tart"), "price", "price", 6, 48,
                  "listed paused retired", unit="dollars", decimal=True),
               _e("supplier", "suppliers", "supplier_name", "name",
                  ("Green Valley", "Coastline Fish", "Mill and Co", "Sunfield"), "deliveries", "delivery count", 1,
                  30, "approved pending dropped"))),
    Domain("bakery", "the bakery", "shop", ("Main Street", "Old Town", "Station", "Market Hall", "Airport"),
           "baker", "oven cleaning", ("sweet", "savory", "wholegrain", "holiday", "bestseller"), (
               _e("bread", "breads", "bread_name", "name", ("sourdough", "rye", "baguette", "brioche", "focaccia"),
                  "batch_size", "batch size", 10, 200, "baking ready sold"),
               _e("order", "orders", "order_number", "order number", "ORD-", "total", "total", 5, 300,
                  "open paid delivered", unit="dollars", decimal=True))),
    Domain("fitness", "the fitness club", "studio", ("Studio A", "Studio B", "Spin", "Pool", "Weights"), "trainer",
           "fitness assessment", ("cardio", "strength", "yoga", "beginner", "advanced"), (
               _e("membership", "memberships", "membership_id", "membership id", "MB-", "visits", "visit count", 0,
                  200, "active frozen lapsed"),
               _e("routine", "routines", "routine_name", "name", ("Core Blast", "Leg Day", "Morning Flow", "HIIT 30"),
                  "minutes", "duration", 10, 90, "published draft retired", unit="minutes"))),
    Domain("airport", "the airport", "terminal", ("Terminal 1", "Terminal 2", "Terminal 3", "Cargo", "Gate C"),
           "agent", "security sweep", ("international", "domestic", "charter", "priority", "overnight"), (
               _e("flight", "flights", "flight_number", "flight number", ("SK455", "QF12", "LX318", "EK202", "TP1045"),
                  "passengers", "passenger count", 20, 400, "boarding departed delayed"),
               _e("bag", "bags", "bag_tag", "bag tag", "BG-", "weight_kg", "weight", 1, 32, "checked loaded lost",
                  unit="kg", decimal=True))),
    Domain("port", "the port", "berth", ("Berth 4", "Berth 9", "Quay North", "Quay South", "Dry Dock"), "inspector",
           "customs inspection", ("reefer", "bulk", "tanker", "feeder", "transit"), (
               _e("vessel", "vessels", "vessel_name", "name", ("MV Aurora", "MV Halden", "MV Kestrel", "MV Tamsin"),
                  "tonnage", "tonnage", 500, 90000, "docked sailing anchored", unit="tonnes"),
               _e("container", "containers", "container_number", "container number", "MSCU ", "cargo_tonnes",
                  "cargo weight", 1, 30, "sealed open held", unit="tonnes", decimal=True))),
    Domain("bank", "the bank", "branch", ("Downtown", "Lakeside", "University", "Airport", "Harborview"), "advisor",
           "account review", ("savings", "business", "student", "joint", "premium"), (
               _e("account", "accounts", "account_number", "account number", "ACC-", "balance", "balance", 0, 50000,
                  "open frozen closed", unit="dollars", decimal=True),
               _e("loan", "loans", "loan_id", "loan id", "LN-", "months", "term", 6, 360, "approved pending repaid",
                  unit="months"))),
    Domain("zoo", "the zoo", "enclosure", ("Savanna", "Reptile", "Aviary", "Polar", "Rainforest"), "keeper",
           "feeding", ("endangered", "nocturnal", "herbivore", "predator", "juvenile"), (
               _e("animal", "animals", "animal_name", "name", ("Kibo", "Luna", "Tundra", "Ziggy", "Rafiki"),
                  "weight_kg", "weight", 1, 5000, "healthy quarantined recovering", unit="kg", decimal=True),
               _e("exhibit", "exhibits", "exhibit_name", "name",
                  ("Lion Ridge", "Penguin Cove", "Bat Cave", "Otter Creek"), "capacity", "capacity", 2, 60,
                  "open closed renovating"))),
    Domain("parking", "the parking service", "lot", ("Stadium", "Riverside", "Garage West", "Market", "Station"),
           "attendant", "patrol", ("covered", "ev-charging", "monthly", "visitor", "disabled"), (
               _e("permit", "permits", "permit_number", "permit number", "PM-", "days", "validity", 1, 365,
                  "valid expired revoked", unit="days"),
               _e("bay", "bays", "bay_code", "bay code", ("A-12", "B-07", "C-33", "D-18", "E-05"), "hourly_rate",
                  "hourly rate", 1, 9, "free taken blocked", unit="dollars", decimal=True))),
    Domain("laboratory", "the laboratory", "lab", ("North", "South", "Clean", "Cold", "Bio"), "technician",
           "calibration", ("toxic", "sterile", "frozen", "flammable", "priority"), (
               _e("sample", "samples", "sample_id", "sample id", "SMP-", "volume_ml", "volume", 1, 500,
                  "pending analyzed discarded", unit="ml", decimal=True),
               _e("instrument", "instruments", "instrument_name", "name",
                  ("spectrometer-2", "centrifuge-5", "microscope-7", "pcr-3"), "runs", "run count", 0, 900,
                  "online offline booked"))),
    Domain("theater", "the theater", "stage", ("Main", "Studio", "Black Box", "Rooftop", "Hall B"), "performer",
           "rehearsal", ("matinee", "premiere", "musical", "drama", "comedy"), (
               _e("show", "shows", "show_title", "title", ("Hamlet", "The Tempest", "Cabaret", "Our Town"),
                  "tickets", "ticket count", 10, 900, "scheduled running closed"),
               _e("ticket", "tickets", "ticket_number", "ticket number", "TK-", "price", "price", 10, 180,
                  "issued scanned refunded", unit="dollars", decimal=True))),
    Domain("transit", "the transit network", "station", ("Central", "Park Street", "Harbor Front", "University",
                                                         "Airport Link"),
           "conductor", "safety inspection", ("express", "night", "accessible", "weekend", "rush-hour"), (
               _e("bus", "buses", "bus_number", "bus number", ("Bus 14", "Bus 22", "Bus 38", "Bus 41", "Bus 57"),
                  "riders", "rider count", 0, 120, "running garaged detoured"),
               _e("route", "routes", "route_name", "route name", ("Route 5", "Route 9", "Route 12", "Route 30"),
                  "stops", "stop count", 4, 60, "active suspended planned"))),
    Domain("conference", "the conference", "hall", ("Hall A", "Hall B", "Auditorium", "Expo", "Foyer"), "speaker",
           "sound check", ("keynote", "workshop", "panel", "virtual", "sponsored"), (
               _e("talk", "talks", "talk_title", "title", ("Scaling Search", "Quiet Robots", "Soil Data",
                                                          "Tiny Models"),
                  "minutes", "length", 10, 90, "accepted submitted rejected", unit="minutes"),
               _e("badge", "badges", "badge_id", "badge id", "BD-", "days", "day count", 1, 5,
                  "printed issued revoked"))),
    Domain("helpdesk", "the IT helpdesk", "queue", ("Billing", "Network", "Hardware", "Accounts", "Printing"),
           "engineer", "follow-up call", ("bug", "outage", "feature", "question", "security"), (
               _e("incident", "incidents", "incident_id", "incident id", "INC-", "hours_open", "time open", 1, 300,
                  "open resolved escalated", unit="hours", decimal=True),
               _e("laptop", "laptops", "asset_tag", "asset tag", "LT-", "ram_gb", "memory", 4, 64,
                  "assigned spare broken", unit="GB"))),
    Domain("winery", "the winery", "cellar", ("Cellar 1", "Cellar 2", "Barrel Hall", "Tasting Room", "Loading Bay"),
           "winemaker", "blending trial", ("red", "white", "sparkling", "oak-aged", "reserve"), (
               _e("barrel", "barrels", "barrel_id", "barrel id", "BR-", "liters", "volume", 50, 500,
                  "aging filled empty", unit="liters"),
               _e("wine", "wines", "wine_name", "name", ("Crimson Ridge", "Pale Oak", "Silver Fog", "Old Vine"),
                  "bottles", "bottle count", 100, 9000, "bottled released sold"))),
    Domain("league", "the sports league", "pitch", ("Pitch 1", "Pitch 2", "Indoor Court", "Track", "Arena"), "coach",
           "training session", ("junior", "senior", "women", "mixed", "veterans"), (
               _e("team", "teams", "team_name", "team name", ("Red Hawks", "Blue Foxes", "Iron Owls", "Storm Bears"),
                  "players", "player count", 8, 30, "active disbanded suspended"),
               _e("match", "matches", "match_id", "match id", "MT-", "attendance", "attendance", 50, 40000,
                  "scheduled played postponed"))),
)
BY_DOMAIN = {d.key: d for d in DOMAINS}
HELDOUT_DOMAINS = frozenset(d.key for i, d in enumerate(DOMAINS) if i % 4 == 3)  # clinic, farm, fitness, zoo, …


def domains(family: str) -> list[Domain]:
    if family not in FAMILIES:
        raise SourceError(f"function-space: unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    return [d for d in DOMAINS if (d.key in HELDOUT_DOMAINS) == (family == "heldout")]


# ------------------------------------------------------------------------------------------------------ parameters

PEOPLE = ("Ana Lopez", "Ben Carter", "Mia Chen", "Ravi Shah", "Zoe Adams", "Omar Diaz", "Ivy Novak", "Leo Grant",
          "Nora Wells", "Sam Reed", "Elena Petrova", "Kenji Sato", "Amara Obi", "Lucas Meyer", "Priya Nair",
          "Tom Becker", "Sara Holm", "Yusuf Kaya")
NOTES = ("checked by phone", "requested by the manager", "see last week's email", "second attempt",
         "customer asked twice", "double-check on Monday")
PRIORITIES = ("low", "normal", "high")


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]  # the property's JSON schema, description included
    required: bool
    draw: Callable[[random.Random], Any]
    phrase: Callable[[Any], str]  # how a request states the value
    default: Any = None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _date(rng: random.Random) -> str:
    return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _key_value(ent: Entity, rng: random.Random) -> str:
    if isinstance(ent.keys, str):
        return f"{ent.keys}{rng.randint(1000, 9999)}"
    return rng.choice(ent.keys)


def _example(ent: Entity) -> str:
    return f"{ent.keys}1234" if isinstance(ent.keys, str) else ent.keys[0]


def _measure_value(ent: Entity, rng: random.Random) -> float | int:
    if ent.decimal:
        x = round(rng.uniform(ent.lo, ent.hi), 1)
        return int(x) if x.is_integer() else x
    return rng.randint(int(ent.lo), int(ent.hi))


def _p_key(dom: Domain, ent: Entity) -> Param:
    return Param(ent.key, {"type": "string", "description": f'The {ent.key_noun} of the {ent.noun}, for example '
                                                            f'"{_example(ent)}".'},
                 True, lambda rng: _key_value(ent, rng), lambda v: f'the {ent.noun} "{v}"')


def _p_place(dom: Domain, ent: Entity, required: bool = True) -> Param:
    default = "" if required else f"; defaults to every {dom.place_noun}"
    return Param(dom.place_noun, {"type": "string", "description": f"The {dom.place_noun}, for example "
                                                                   f'"{dom.places[0]}"{default}.'},
                 required, lambda rng: rng.choice(dom.places), lambda v: f"the {v} {dom.place_noun}")


def _p_status(dom: Domain, ent: Entity, required: bool = True) -> Param:
    default = "" if required else "; defaults to any status"
    return Param("status", {"type": "string", "enum": list(ent.states),
                            "description": f"The {ent.noun} status{default}."},
                 required, lambda rng: rng.choice(ent.states), lambda v: v)


def _p_measure(dom: Domain, ent: Entity) -> Param:
    unit = f", in {ent.unit}" if ent.unit else ""
    return Param(ent.measure, {"type": "number" if ent.decimal else "integer",
                               "description": f"The {ent.measure_noun}{unit}."},
                 True, lambda rng: _measure_value(ent, rng),
                 lambda v: f"{_num(v)}{' ' + ent.unit if ent.unit else ''}")


def _p_person(dom: Domain, ent: Entity) -> Param:
    return Param(dom.person_noun, {"type": "string", "description": f"The full name of the {dom.person_noun}."},
                 True, lambda rng: rng.choice(PEOPLE), lambda v: v)


def _p_date(dom: Domain, ent: Entity) -> Param:
    return Param("date", {"type": "string", "description": "The date in YYYY-MM-DD format."}, True, _date,
                 lambda v: v)


def _p_time(dom: Domain, ent: Entity) -> Param:
    return Param("time", {"type": "string", "description": 'The time in 24-hour HH:MM format; defaults to "09:00".'},
                 False, lambda rng: f"{rng.randint(10, 18)}:{rng.choice(('00', '15', '30', '45'))}",
                 lambda v: f"at {v}", default="09:00")


def _p_tags(dom: Domain, ent: Entity, required: bool = True) -> Param:
    return Param("tags", {"type": "array", "items": {"type": "string"},
                          "description": f'Tags for the {ent.noun}, for example ["{dom.tags[0]}"]'
                                         + ("." if required else "; defaults to none.")},
                 required, lambda rng: rng.sample(dom.tags, rng.randint(1, 3)),
                 lambda v: join_words([f'"{t}"' for t in v]))


def _p_readings(dom: Domain, ent: Entity) -> Param:
    unit = f" in {ent.unit}" if ent.unit else ""
    return Param("readings", {"type": "array", "items": {"type": "number"},
                              "description": f"The {ent.measure_noun} readings{unit}, oldest first."},
                 True, lambda rng: [_measure_value(ent, rng) for _ in range(rng.randint(2, 4))],
                 lambda v: join_words([_num(x) for x in v]))


def _window(rng: random.Random) -> dict[str, str]:
    month = rng.randint(1, 11)
    start = f"2025-{month:02d}-{rng.randint(1, 28):02d}"
    return {"start": start, "end": f"2025-{month + 1:02d}-{rng.randint(1, 28):02d}"}


def _p_window(dom: Domain, ent: Entity) -> Param:
    return Param("period", {"type": "object", "description": "The period to cover.",
                            "properties": {"start": {"type": "string", "description": "First day, YYYY-MM-DD."},
                                           "end": {"type": "string", "description": "Last day, YYYY-MM-DD."}},
                            "required": ["start", "end"]},
                 True, _window, lambda v: f"from {v['start']} to {v['end']}")


def _p_limit(dom: Domain, ent: Entity) -> Param:
    return Param("limit", {"type": "integer", "description": "The most results to return; defaults to 10."},
                 False, lambda rng: rng.choice((3, 5, 20, 25, 50)), lambda v: f"at most {v} results", default=10)


def _p_flag(name: str, what: str, said: str) -> Callable[[Domain, Entity], Param]:
    return lambda dom, ent: Param(name, {"type": "boolean", "description": f"Whether to {what}; defaults to false."},
                                  False, lambda rng: True, lambda v: said, default=False)


def _p_note(dom: Domain, ent: Entity) -> Param:
    return Param("note", {"type": "string", "description": "A short note to keep with the change; defaults to none."},
                 False, lambda rng: rng.choice(NOTES), lambda v: f'with the note "{v}"', default="")


def _p_priority(dom: Domain, ent: Entity) -> Param:
    return Param("priority", {"type": "string", "enum": list(PRIORITIES),
                              "description": 'The priority; defaults to "normal".'},
                 False, lambda rng: rng.choice(("low", "high")), lambda v: f"with {v} priority", default="normal")


def _p_query(dom: Domain, ent: Entity) -> Param:
    def draw(rng: random.Random) -> str:
        value = _key_value(ent, rng)
        return value if isinstance(ent.keys, tuple) else value[:len(ent.keys) + 2]

    return Param("query", {"type": "string", "description": f"Words or a prefix to look for in the {ent.key_noun}."},
                 True, draw, lambda v: f'"{v}"')


# --------------------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Action:
    key: str
    verbs: tuple[str, ...]  # name verbs of both families
    heldout_verbs: tuple[str, ...]  # name verbs only the held-out family uses
    objects: tuple[str, ...]  # the name's object over {noun}, {plural}, {event}: "{noun}_details"
    describe: str  # the description's first sentence over {noun}, {plural}, {place}, {person}, {event}, …
    params: tuple[Callable[..., Param], ...]
    goal: str  # the request over the parameters' phrases: "get the details of {title}"; optional ones are appended
    answer: Callable[[Domain, Entity, dict[str, Any], dict[str, Any]], str]
    result: Callable[[Domain, Entity, dict[str, Any], random.Random], dict[str, Any]]


def _code(ent: Entity, r: random.Random) -> str:
    return f"{ent.noun[:3].upper()}-{r.randint(1000, 9999)}"


def _items(ent: Entity, r: random.Random, k: int) -> list[str]:
    if isinstance(ent.keys, str):
        return [_key_value(ent, r) for _ in range(k)]
    return r.sample(ent.keys, min(k, len(ent.keys)))


ACTIONS: tuple[Action, ...] = (
    Action("get", ("get", "fetch", "read"), ("retrieve", "lookup"), ("{noun}", "{noun}_details", "{noun}_info"),
           "Get the details of a {noun} by its {key_noun}.",
           (_p_key, _p_flag("include_history", "include past changes", "including its history")),
           "get the details of {0}",
           lambda d, e, a, r: f'The {e.noun} "{a[e.key]}" is {r["status"]}, with a {e.measure_noun} of '
                              f'{_num(r[e.measure])}{" " + e.unit if e.unit else ""}.',
           lambda d, e, a, r: {e.key: a[e.key], "status": r.choice(e.states), e.measure: _measure_value(e, r),
                               d.place_noun: r.choice(d.places)}),
    Action("list", ("list", "find"), ("browse", "enumerate"), ("{plural}", "{plural}_by_status"),
           "List the {plural} with a given status at a {place}.", (_p_place, _p_status, _p_limit),
           "list the {1} {plural} at {0}",
           lambda d, e, a, r: (f"I found {len(r['items'])} {a['status']} {e.plural} at the {a[d.place_noun]} "
                               f"{d.place_noun}: {join_words(r['items'])}."),
           lambda d, e, a, r: {"items": _items(e, r, r.randint(1, 3))}),
    Action("count", ("count",), ("tally",), ("{plural}", "{plural}_per_{place}"),
           "Count the {plural} at a {place}.", (_p_place, lambda d, e: _p_status(d, e, required=False)),
           "count the {plural} at {0}",
           lambda d, e, a, r: f"There are {r['count']} {e.plural} at the {a[d.place_noun]} {d.place_noun}.",
           lambda d, e, a, r: {"count": r.randint(0, 60)}),
    Action("create", ("add", "create"), ("register", "enroll"), ("{noun}", "new_{noun}"),
           "Add a new {noun} with its {measure_noun}.", (_p_key, _p_measure, lambda d, e: _p_tags(d, e, False)),
           "add a new {noun} \"{v0}\" with a {measure_noun} of {1}",
           lambda d, e, a, r: f'Added the {e.noun} "{a[e.key]}" (id {r["id"]}).',
           lambda d, e, a, r: {"status": "created", "id": _code(e, r)}),
    Action("update", ("update", "change"), ("adjust", "revise"), ("{noun}_{measure}", "{noun}"),
           "Update the {measure_noun} of a {noun}.", (_p_key, _p_measure, _p_note),
           "update the {measure_noun} of {0} to {1}",
           lambda d, e, a, r: (f'The {e.measure_noun} of the {e.noun} "{a[e.key]}" is now {_num(a[e.measure])} '
                               f'(it was {_num(r["previous"])}).'),
           lambda d, e, a, r: {"status": "updated", "previous": _measure_value(e, r)}),
    Action("remove", ("remove", "delete"), ("discard", "purge"), ("{noun}", "{noun}_record"),
           "Remove a {noun} from the records.", (_p_key, _p_note),
           "remove {0} from the records",
           lambda d, e, a, r: f'The {e.noun} "{a[e.key]}" was removed (log entry {r["log_entry"]}).',
           lambda d, e, a, r: {"status": "removed", "log_entry": r.randint(100, 999)}),
    Action("assign", ("assign",), ("allocate",), ("{noun}", "{noun}_to_{person}"),
           "Assign a {noun} to a {person}.", (_p_key, _p_person, _p_priority),
           "assign {0} to {1}",
           lambda d, e, a, r: f'{a[d.person_noun]} now has the {e.noun} "{a[e.key]}" (assignment {r["assignment"]}).',
           lambda d, e, a, r: {"status": "assigned", "assignment": _code(e, r)}),
    Action("schedule", ("schedule", "book"), ("plan", "arrange"), ("{noun}_{event}", "{event}"),
           "Schedule a {event} for a {noun} on a date.", (_p_key, _p_date, _p_time),
           "schedule a {event} for {0} on {1}",
           lambda d, e, a, r: (f'The {d.event} for the {e.noun} "{a[e.key]}" is set for {a["date"]} at '
                               f'{a.get("time", "09:00")} (confirmation {r["confirmation"]}).'),
           lambda d, e, a, r: {"status": "scheduled", "confirmation": _code(e, r)}),
    Action("report", ("report", "summarize"), ("export", "digest"), ("{noun}_activity", "{plural}"),
           "Build a report of {noun} activity over a period.",
           (_p_window, lambda d, e: _p_place(d, e, required=False)),
           "build a report of {noun} activity {0}",
           lambda d, e, a, r: (f"From {a['period']['start']} to {a['period']['end']} there were {r['events']} "
                               f"{e.noun} events; the busiest day was {r['busiest_day']}."),
           lambda d, e, a, r: {"events": r.randint(3, 400), "busiest_day": a["period"]["start"]}),
    Action("record", ("record", "log"), ("capture",), ("{noun}_{measure}", "{noun}_readings"),
           "Record a series of {measure_noun} readings for a {noun}.", (_p_key, _p_readings),
           "record the {measure_noun} readings {1} for {0}",
           lambda d, e, a, r: (f'Saved {len(a["readings"])} readings for the {e.noun} "{a[e.key]}"; their average is '
                               f'{_num(r["average"])}.'),
           lambda d, e, a, r: {"status": "recorded",
                               "average": round(sum(a["readings"]) / len(a["readings"]), 1)}),
    Action("search", ("search",), ("scan",), ("{plural}", "{plural}_by_{key}"),
           "Search the {plural} for words in their {key_noun}.", (_p_query, _p_limit),
           "search the {plural} for {0}",
           lambda d, e, a, r: f"The search for \"{a['query']}\" found {join_words(r['matches'])}.",
           lambda d, e, a, r: {"matches": _items(e, r, r.randint(1, 2))}),
    Action("set_status", ("set", "mark"), ("flag",), ("{noun}_status",),
           "Set the status of a {noun}.", (_p_key, _p_status),
           "set the status of {0} to {1}",
           lambda d, e, a, r: f'The {e.noun} "{a[e.key]}" is now marked {r["new_status"]} (it was {r["previous"]}).',
           lambda d, e, a, r: {"new_status": a["status"],
                               "previous": r.choice([s for s in e.states if s != a["status"]])}),
    Action("tag", ("tag",), ("label",), ("{noun}", "{noun}_tags"),
           "Add tags to a {noun}.", (_p_key, _p_tags),
           "tag {0} with {1}",
           lambda d, e, a, r: f'The {e.noun} "{a[e.key]}" now has {r["tag_count"]} tags.',
           lambda d, e, a, r: {"status": "tagged", "tag_count": len(a["tags"]) + r.randint(0, 3)}),
)
BY_ACTION = {a.key: a for a in ACTIONS}
# Actions one of which could pass for the other on the same entity: never a near miss for each other.
_OVERLAPS = ({"get", "search"}, {"list", "count", "search"}, {"update", "record"})


def _overlap(a: str, b: str) -> bool:
    return a == b or any(a in g and b in g for g in _OVERLAPS)


# ------------------------------------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class Function:
    name: str
    domain: Domain
    entity: Entity
    action: Action
    params: tuple[Param, ...]

    @property
    def description(self) -> str:
        d, e = self.domain, self.entity
        first = self.action.describe.format(noun=e.noun, plural=e.plural, key_noun=e.key_noun, place=d.place_noun,
                                            person=d.person_noun, event=d.event, measure_noun=e.measure_noun)
        first = re.sub(r"\ba (?=[aeiou])", "an ", first)
        optional = [p.name for p in self.params if not p.required]
        return first + (f" Optional: {join_words(optional)}." if optional else "")

    @property
    def described(self) -> str:
        """What it does in its description's own words, for the reasoning: "get the details of a book by …"."""
        return wording.described(self.description)

    @property
    def schema(self) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": {"type": "object", "properties": {p.name: p.schema for p in self.params},
                           "required": [p.name for p in self.params if p.required]}}}


def _slug(text: str) -> str:
    return "_".join(text.lower().replace("-", " ").split())


def make_function(rng: random.Random, dom: Domain, ent: Entity, action: Action, family: str = "train") -> Function:
    """A function for (domain, entity, action) under a random name: verb + object (+ qualifier), maybe namespaced."""
    verbs = action.verbs + (action.heldout_verbs if family == "heldout" else ())
    obj = rng.choice(action.objects).format(noun=ent.noun, plural=ent.plural, event=_slug(dom.event),
                                            measure=ent.measure, place=dom.place_noun,
                                            person=_slug(dom.person_noun), key=ent.key)
    name = f"{rng.choice(verbs)}_{obj}"
    style = rng.random()
    if style < 0.25:
        name = f"{dom.key}.{name}"
    elif style < 0.35:
        name = f"{ent.plural}.{name}"
    return Function(name, dom, ent, action, tuple(p(dom, ent) for p in action.params))


# -------------------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    function: Function
    args: dict[str, Any]
    goal: str  # "count the books at the Central branch, only the reserved ones"


def make_request(fn: Function, rng: random.Random) -> Request:
    """Values for every required parameter and some optional ones; the goal states them all."""
    required = [p for p in fn.params if p.required]
    optional = [p for p in fn.params if not p.required and rng.random() < 0.4]
    args = {p.name: p.draw(rng) for p in required + optional}
    e, d = fn.entity, fn.domain
    phrases = [p.phrase(args[p.name]) for p in required]
    goal = fn.action.goal.format(*phrases, v0=args[required[0].name], noun=e.noun, plural=e.plural,
                                 event=d.event, measure_noun=e.measure_noun)
    if optional:
        extra = [f"only the {args[p.name]} ones" if p.name == "status" else
                 f"at the {args[p.name]} {d.place_noun}" if p.name == d.place_noun else p.phrase(args[p.name])
                 for p in optional]
        goal += ", " + join_words(extra)
    _check(fn, args)
    return Request(fn, args, goal)


def _check(fn: Function, args: dict[str, Any]) -> None:
    problem = validate_arguments(fn.schema, args)
    if problem is not None:
        raise ValueError(f"function-space generated invalid arguments for {fn.name}: {problem} ({args!r})")


_ASKS = ("{G}.", "Please {g}.", "Can you {g}?", "I need you to {g}.", "Could you {g}, please?")


def _ask(rng: random.Random, goal: str, template: str | None = None) -> str:
    template = template or rng.choice(_ASKS)
    return template.format(g=goal, G=goal[0].upper() + goal[1:])


# -------------------------------------------------------------------------------------------------------- offering


def _near_misses(rng: random.Random, dom: Domain, ent: Entity, action: Action, k: int, family: str,
                 exclude: Sequence[tuple[str, str, str]] = ()) -> list[Function]:
    """k functions that do not serve (dom, ent, action): same entity with another action, same action on the domain's
    other entity, or (a third) a function from another domain."""
    taken = {(dom.key, ent.noun, action.key), *exclude}
    pool_same = [(dom, e, a) for e in dom.entities for a in ACTIONS
                 if (e is ent and not _overlap(a.key, action.key)) or (e is not ent and a is action)]
    others = [d for d in domains(family) if d is not dom]
    out: list[Function] = []
    while len(out) < k:
        if rng.random() < 0.65:
            d, e, a = rng.choice(pool_same)
        else:
            d = rng.choice(others)
            e, a = rng.choice(d.entities), rng.choice(ACTIONS)
        if (d.key, e.noun, a.key) in taken or any(_blocks(a.key, e, x) for x in exclude if x[0] == d.key):
            continue
        taken.add((d.key, e.noun, a.key))
        out.append(make_function(rng, d, e, a, family))
    return out


def _blocks(action: str, ent: Entity, fit: tuple[str, str, str]) -> bool:
    """Whether a distractor (action on ent) could pass for a fitting function `fit` (domain, noun, action)."""
    return fit[1] == ent.noun and _overlap(action, fit[2])


def _unique_names(functions: Sequence[Function]) -> bool:
    return len({f.name for f in functions}) == len(functions)


def _tool_call(fn: Function, args: dict[str, Any]) -> dict[str, Any]:
    _check(fn, args)
    return {"type": "function", "function": {"name": fn.name, "arguments": args}}


def _fake(fn: Function, args: dict[str, Any]) -> dict[str, Any]:
    r = random.Random(json.dumps([fn.action.key, fn.domain.key, fn.entity.noun, args], sort_keys=True))
    return fn.action.result(fn.domain, fn.entity, args, r)


_DECLINES = ("Sorry, I can't {g} with the tools I have.",
             "None of the available functions can {g}, so I can't do that right now.",
             "I don't have a function to {g}; the ones I have do other things.")


def _words(text: str) -> int:
    return len(text.split())


def _build(rng: random.Random, decision: str, family: str, result_share: float
           ) -> tuple[list, list[dict], dict] | None:
    """One attempt; None when the reasoning came out too long (the caller draws again)."""
    dom = rng.choice(domains(family))
    if decision == "several":
        k = rng.choice((2, 2, 3))
        if rng.random() < 0.3:  # the same function twice (or three times), other values
            ent, action = rng.choice(dom.entities), rng.choice(ACTIONS)
            fn = make_function(rng, dom, ent, action, family)
            reqs = [make_request(fn, rng) for _ in range(k)]
            if len({json.dumps(r.args, sort_keys=True) for r in reqs}) < k:
                return None
            fitting = [fn]
        else:
            pairs = rng.sample([(e, a) for e in dom.entities for a in ACTIONS], k)
            fitting = [make_function(rng, dom, e, a, family) for e, a in pairs]
            reqs = [make_request(f, rng) for f in fitting]
    else:
        ent, action = rng.choice(dom.entities), rng.choice(ACTIONS)
        target = make_function(rng, dom, ent, action, family)
        reqs = [make_request(target, rng)]
        fitting = [target] if decision == "one" else []
    exclude = [(f.domain.key, f.entity.noun, f.action.key) for f in fitting] or \
              [(dom.key, reqs[0].function.entity.noun, reqs[0].function.action.key)]
    n_others = rng.randint(1 if not fitting else 0, 5 - len(fitting))
    first = reqs[0].function
    others = _near_misses(rng, dom, first.entity, first.action, n_others, family, exclude)
    offered = [*fitting, *others]
    if not _unique_names(offered):
        return None
    rng.shuffle(offered)
    goal = join_words([r.goal for r in reqs])
    reasoning = wording.function_comparison(rng, goal, offered, fitting, dom)
    user = {"role": "user", "content": " ".join(_ask(rng, r.goal) for r in reqs) if len(reqs) > 1 and
            rng.random() < 0.5 else _ask(rng, goal)}
    gold = [{"name": r.function.name, "arguments": r.args} for r in reqs] if fitting else []
    extra = {"decision": decision, "gold": gold, "domain": dom.key}
    if not fitting:
        reasoning += f" {wording.NO_FUNCTION_FITS}"
        if _words(reasoning) >= MAX_REASONING_WORDS:
            return None
        content = rng.choice(_DECLINES).format(g=goal)
        return [user, {"role": "assistant", "content": content, "reasoning": reasoning}], \
            [f.schema for f in offered], extra
    if len(reqs) == 1:
        reasoning += f" {wording.call_decision(first.name, reqs[0].args)}"
    elif len(fitting) == 1:
        reasoning += f" {wording.repeated_call(first.name, first.entity.noun, len(reqs))}"
    else:
        reasoning += f" {wording.several_calls([r.function.name for r in reqs])}"
    if _words(reasoning) >= MAX_REASONING_WORDS:
        return None
    calls = [_tool_call(r.function, r.args) for r in reqs]
    messages = [user, {"role": "assistant", "content": "", "reasoning": reasoning, "tool_calls": calls}]
    if rng.random() < result_share:
        answers = []
        for r in reqs:
            result = _fake(r.function, r.args)
            messages.append({"role": "tool", "name": r.function.name, "content": json.dumps(result)})
            answers.append(r.function.action.answer(r.function.domain, r.function.entity, r.args, result))
        messages.append({"role": "assistant", "content": " ".join(answers), "reasoning": wording.after_results(rng)})
        extra["with_result"] = True
    return messages, [f.schema for f in offered], extra


def make_item(rng: random.Random, *, family: str = "train", decision: str | None = None,
              weights: Sequence[float] = DECISION_WEIGHTS, result_share: float = RESULT_SHARE
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(messages, offered tool schemas (shuffled), extra): extra holds "decision" ("one" | "several" | "none"),
    "gold" (the calls, [{"name", "arguments"}], empty for none) and "domain". `decision` forces one (the eval suite
    asks per category); by default it is drawn with `weights` (of DECISIONS)."""
    domains(family)  # checks the family
    if decision is None:
        decision = rng.choices(DECISIONS, weights)[0]
    elif decision not in DECISIONS:
        raise SourceError(f"function-space: unknown decision {decision!r}; valid: {', '.join(DECISIONS)}")
    for _ in range(100):
        item = _build(rng, decision, family, result_share)
        if item is not None:
            return item
    raise RuntimeError(f"function-space: no {decision} item within the reasoning budget after 100 draws")


def decision_weights(decisions: Mapping[str, Any] | None) -> tuple[float, ...]:
    """The weights of DECISIONS from a recipe's `decisions` ({"one": 0.45, "several": 0.25, "none": 0.3}; relative,
    a decision left out weighs 0), or DECISION_WEIGHTS for None. A bad mapping raises ValueError saying why."""
    if decisions is None:
        return DECISION_WEIGHTS
    unknown = [k for k in decisions if k not in DECISIONS]
    if unknown:
        raise ValueError(f"unknown decision {unknown[0]!r}; valid: {', '.join(DECISIONS)}")
    for d, w in decisions.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not (math.isfinite(w) and w >= 0):
            raise ValueError(f"the weight of {d!r} must be a number >= 0, got {w!r}")
    weights = tuple(decisions.get(d, 0) for d in DECISIONS)
    if not any(weights):
        raise ValueError("every weight is 0: give at least one decision a weight above 0")
    return weights


def generate(n: int, *, seed: int, name: str = "function-space", family: str = "train") -> Iterator[Example]:
    """n items; item i is built from Random(f"{seed}:{i}") alone."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    domains(family)
    for i in range(n):
        messages, tools, extra = make_item(random.Random(f"{seed}:{i}"), family=family)
        metadata = {"kind": "generated", "seed": seed, "index": i, "decision": extra["decision"],
                    "family": family, "domain": extra["domain"]}
        yield Example(source=name, row_id=f"{seed}:{i}", messages=messages, tools=tools, metadata=metadata)
