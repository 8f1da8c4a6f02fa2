"""Procedural tool-calling conversations over a catalog of typed, documented fake tools.

This module owns the catalog and the conversations built on it. Each catalog tool is one `CatalogTool` record,
defined in one place: a plain Python function (its schema is derived by `smolthink.tools.tool`, never written by
hand; its body returns deterministic fake data), its request maker right below it (example requests and how their
argument values are filled), and how replies use it (its answer, its refusal, the tools related to it). The
conversations are one of twelve kinds:

    single              one request, one call (0–1 distractor tools offered)
    multiple            the right tool among 3–4 offered, one call
    parallel            two or three calls in one assistant turn (same tool or different tools)
    multi_step          call → result → a second call that uses a value from the result → result → answer
    irrelevance         no offered tool fits → short reasoning saying so, then a direct answer or a polite refusal
                        (a third are synthetic-reasoning problems with an unrelated tool offered, solved in full)
    answer_from_result  call → result → an answer that quotes the result's values
    math                a synthetic-reasoning problem with solver functions on offer: call the one that does the
                        asked operation, or (only other solvers on offer) solve it yourself (`task_tools`)
    formula             a request for a quantity (the volume of a cone) with one-formula functions on offer: call
                        the one that computes it, or (only neighbouring quantities on offer) say which quantity
                        each computes and work it out with the formula (`formula_tools`)
    lookup              a request for a fact (the diet of the lion) with lookup functions on offer: call the one that
                        gets it, or (only other facts on offer: the habitat of an animal, a city's population) say
                        what each gets and decline (`lookup_tools`)
    generated           a procedurally generated function space (thousands of names, typed and nested parameters,
                        1–5 functions on offer of which none, one or several fit; `function_space`)
    search              a question about generated documents: call local_search (or web_search), answer from the
                        passages it returns, or say they do not hold the answer (`search_docs`)
    no_search_tool      the same kind of question with no search tool offered: say it cannot be looked up, no call

An unset `kinds` means SUPPORTED_KINDS: every kind but the EXPERIMENTAL_KINDS (math, lookup, no_search_tool: measured,
not shipped).

Every assistant turn carries a few sentences of reasoning. Before a first call or a "no tool fits", the catalog
kinds (all but multi_step) compare: the request, then what each offered tool can do, in its description's own words,
and whether that fits ("get_weather can get the current weather in a city: that fits. translate can translate a
short text into another language: that does not fit."), then the decision; `wording` words every such sentence, here
and in the generated and search kinds. Every call is checked against its schema while generating: a bug here raises
instead of writing bad data. Tool messages hold what the catalog function returned (a string as is, anything else as
JSON), as `smolthink.tools.run_tool_call` would. Item i is built from `random.Random(f"{seed}:{i}")` alone.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from smolthink.data.example import Example, SourceError
from smolthink.data.sources import (formula_tools, function_space, lookup_tools, search_docs, synthetic_reasoning,
                                     task_tools, wording)
from smolthink.data.sources.synthetic_reasoning import join_words
from smolthink.tools import Tool, tool, validate_arguments
from smolthink.tools.calculator import calculator

KINDS = ("single", "parallel", "multiple", "multi_step", "irrelevance", "answer_from_result", "math", "formula",
         "lookup", "generated", "search", "no_search_tool")
# Measured and not shipped (docs/experiments.md: runs D and H, mix r2): only where a recipe names them.
EXPERIMENTAL_KINDS = ("math", "lookup", "no_search_tool")
SUPPORTED_KINDS = tuple(k for k in KINDS if k not in EXPERIMENTAL_KINDS)  # what an unset `kinds` means

# ----------------------------------------------------------------------------------------------------- value pools

CITIES = ("Paris", "London", "Tokyo", "New York", "Berlin", "Madrid", "Rome", "Sydney", "Toronto", "Cairo", "Mumbai",
          "Seoul", "Lisbon", "Amsterdam", "Chicago", "Dubai", "Singapore", "Mexico City", "Istanbul", "Vienna",
          "Prague", "Oslo", "Nairobi", "Lima", "Bangkok", "Boston", "Denver", "Athens", "Dublin", "Buenos Aires",
          "Lyon", "Osaka")
DRIVING_REGIONS = (  # city pairs for "driving distance" requests stay on one continent
    ("Paris", "Berlin", "Madrid", "Rome", "Lisbon", "Amsterdam", "Vienna", "Prague", "Lyon", "Oslo", "Athens"),
    ("New York", "Toronto", "Chicago", "Boston", "Denver", "Mexico City"),
)
USD_RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 151.0, "CAD": 1.36, "AUD": 1.52, "CHF": 0.88, "INR": 83.2,
             "CNY": 7.2, "MXN": 17.1, "BRL": 5.0, "SEK": 10.5}
CURRENCY_NAMES = {"USD": "US dollars", "EUR": "euros", "GBP": "British pounds", "JPY": "Japanese yen",
                  "CAD": "Canadian dollars", "AUD": "Australian dollars", "CHF": "Swiss francs", "INR": "Indian rupees",
                  "CNY": "Chinese yuan", "MXN": "Mexican pesos", "BRL": "Brazilian reais", "SEK": "Swedish kronor"}
STOCKS = {"AAPL": "Apple", "MSFT": "Microsoft", "GOOGL": "Alphabet", "AMZN": "Amazon", "TSLA": "Tesla",
          "NVDA": "Nvidia", "META": "Meta", "NFLX": "Netflix", "IBM": "IBM", "INTC": "Intel", "KO": "Coca-Cola",
          "NKE": "Nike"}
TRANSLATIONS = {
    "good morning": {"French": "bonjour", "Spanish": "buenos días", "German": "guten Morgen", "Italian": "buongiorno",
                     "Portuguese": "bom dia"},
    "thank you very much": {"French": "merci beaucoup", "Spanish": "muchas gracias", "German": "vielen Dank",
                            "Italian": "grazie mille", "Portuguese": "muito obrigado"},
    "where is the train station?": {"French": "où est la gare ?", "Spanish": "¿dónde está la estación de tren?",
                                    "German": "wo ist der Bahnhof?", "Italian": "dov'è la stazione?",
                                    "Portuguese": "onde fica a estação de trem?"},
    "how much does this cost?": {"French": "combien ça coûte ?", "Spanish": "¿cuánto cuesta esto?",
                                 "German": "wie viel kostet das?", "Italian": "quanto costa questo?",
                                 "Portuguese": "quanto custa isso?"},
    "see you tomorrow": {"French": "à demain", "Spanish": "hasta mañana", "German": "bis morgen",
                         "Italian": "a domani",
                         "Portuguese": "até amanhã"},
    "happy birthday": {"French": "joyeux anniversaire", "Spanish": "feliz cumpleaños",
                       "German": "alles Gute zum Geburtstag", "Italian": "buon compleanno",
                       "Portuguese": "feliz aniversário"},
    "good night": {"French": "bonne nuit", "Spanish": "buenas noches", "German": "gute Nacht", "Italian": "buona notte",
                   "Portuguese": "boa noite"},
}
DICTIONARY = {
    "ephemeral": ("adjective", "lasting for a very short time"),
    "ubiquitous": ("adjective", "present or found everywhere"),
    "candid": ("adjective", "truthful and straightforward; frank"),
    "meander": ("verb", "to follow a winding course"),
    "benevolent": ("adjective", "well meaning and kindly"),
    "resilient": ("adjective", "able to recover quickly from difficulties"),
    "serendipity": ("noun", "the finding of good things by chance"),
    "frugal": ("adjective", "careful not to spend much money"),
    "lucid": ("adjective", "clear and easy to understand"),
    "gregarious": ("adjective", "fond of company; sociable"),
    "ponder": ("verb", "to think about something carefully"),
    "verbose": ("adjective", "using more words than needed"),
}
CONTACTS = ("Maria Garcia", "John Smith", "Aiko Tanaka", "Lars Berg", "Priya Patel", "Tom Baker", "Chloe Martin",
            "Omar Haddad", "Sofia Rossi", "Daniel Kim", "Emma Wilson", "Lucas Silva")
CUISINES = ("Italian", "Japanese", "Mexican", "Indian", "Thai", "French", "Greek", "Chinese", "Lebanese", "Spanish")
INGREDIENTS = ("chicken", "tomatoes", "rice", "spinach", "salmon", "mushrooms", "lentils", "eggs", "potatoes", "tofu",
               "chickpeas", "pasta")
TOPICS = ("climate", "technology", "space exploration", "football", "electric cars", "medicine", "economy",
          "renewable energy", "artificial intelligence", "music")
SEARCHES = ("best hiking trails near Denver", "population of Lyon 2024", "how to repot a cactus",
            "opening hours of the Louvre", "history of the Eiffel Tower", "symptoms of vitamin D deficiency",
            "easy houseplants for beginners", "tallest building in Africa", "how to remove a coffee stain",
            "when was the first Moon landing", "cheap things to do in Lisbon", "how long to boil an egg")
EMAILS = (
    ("Lunch tomorrow", "Are we still on for lunch tomorrow at noon?"),
    ("Meeting moved", "The team meeting has moved to 3 pm on Thursday."),
    ("Report ready", "The quarterly report is ready for your review."),
    ("Thank you", "Thanks a lot for your help with the move last weekend!"),
    ("Running late", "I'm running about 15 minutes late, sorry."),
    ("Book club", "Book club is at my place this Friday at 7 pm."),
    ("Invoice", "Please find the invoice for March attached."),
)
REMINDERS = ("call mom", "take out the trash", "water the plants", "pick up the dry cleaning", "submit the report",
             "book a dentist appointment", "buy milk", "pay the electricity bill", "stretch for ten minutes")
EVENTS = ("Team standup", "Dentist appointment", "Project review", "Yoga class", "Dinner with Alex",
          "Quarterly planning")
CONDITIONS = ("sunny", "partly cloudy", "cloudy", "light rain", "showers", "windy", "clear", "foggy")


def _fake(*parts: Any) -> random.Random:
    """A Random seeded by the call's arguments: the same call always returns the same fake data."""
    return random.Random("|".join(map(str, parts)))


def _email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@example.com"


# ------------------------------------------------------------------------------------------------ catalog records


@dataclass
class Request:
    text: str  # what the user says
    args: dict[str, Any]
    goal: str  # verb phrase for the reasoning: "check the weather in Paris"


@dataclass(frozen=True)
class Parallel:
    """How one request asks a tool for several values at once (the parallel kind): `args(rng, k)` draws k argument
    sets, and a template joins what `label` calls each ("What's the weather in {j}?")."""
    args: Callable[[random.Random, int], list[dict[str, Any]]]
    templates: tuple[str, ...]
    label: Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class CatalogTool:
    """One catalog tool in one place: the typed function (its signature and docstring give the schema and the
    description, `smolthink.tools.tool` derives them; its body returns the fake result), how a request for it is
    made, and what the replies around it say."""
    fn: Callable[..., Any]
    request: Callable[[random.Random], Request]  # a user request it serves: text, arguments, goal
    capability: str  # what it does, for refusals: "I can't check the weather …"
    answer: Callable[[dict[str, Any], Any], str]  # (arguments, result) → the reply, quoting the result's values
    related: tuple[str, ...] = ()  # other tools that serve its requests too: never its distractors
    math: bool = False  # does arithmetic: related to the calculator (and the calculator to every math tool)
    distractor: bool = True  # False: never offered where it does not fit (a web search serves almost any request)
    # (arguments, result) → the reply of a model that works it out itself when no offered tool fits
    direct: Callable[[dict[str, Any], Any], str] | None = None
    parallel: Parallel | None = None  # how one request asks it for several values


TOOLS: dict[str, CatalogTool] = {}  # name → record, in catalog order


def _add(record: CatalogTool) -> None:
    TOOLS[record.fn.__name__] = record


# What request makers and answers write: dates, times and amounts as a user says them, numbers without a needless ".0".


def _date(rng: random.Random) -> tuple[str, str]:
    """A date as the argument (ISO) and as the user may write it."""
    year, month, day = rng.choice((2025, 2026)), rng.randint(1, 12), rng.randint(1, 28)
    iso = f"{year}-{month:02d}-{day:02d}"
    months = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")
    return iso, rng.choice((iso, f"{months[month - 1]} {day}, {year}", f"{months[month - 1]} {day} {year}"))


def _time(rng: random.Random) -> tuple[str, str]:
    hour, minute = rng.randint(7, 21), rng.choice((0, 0, 15, 30, 45))
    hhmm = f"{hour:02d}:{minute:02d}"
    twelve = f"{hour % 12 or 12}{':%02d' % minute if minute else ''} {'pm' if hour >= 12 else 'am'}"
    return hhmm, rng.choice((hhmm, twelve))


def _money(rng: random.Random) -> float | int:
    return rng.choice((rng.randint(5, 500), rng.randint(1, 100) * 10, round(rng.uniform(5, 300), 2)))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


_DEGREES = {"celsius": "°C", "fahrenheit": "°F", "kelvin": "K"}


# --------------------------------------------------------------------------------------------------------- catalog


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius"):
    """Get the current weather in a city.

    Args:
        city: The city name, for example "Paris".
        unit: The temperature unit.
    """
    r = _fake("weather", city)
    celsius = r.randint(-5, 34)
    return {"city": city, "temperature": celsius if unit == "celsius" else round(celsius * 9 / 5 + 32),
            "unit": unit, "condition": r.choice(CONDITIONS), "humidity_percent": r.randint(30, 90)}


def _r_get_weather(rng: random.Random) -> Request:
    city = rng.choice(CITIES)
    args: dict[str, Any] = {"city": city}
    unit_text = ""
    if rng.random() < 0.35:
        args["unit"] = rng.choice(("celsius", "fahrenheit"))
        unit_text = f" in {args['unit']}"
    text = rng.choice(("What's the weather like in {c}{u}?", "How warm is it in {c} right now{u}?",
                       "Can you check the current weather in {c}{u}?",
                       "Is it raining in {c}? Give me the temperature{u}.",
                       "weather {c}{u}")).format(c=city, u=unit_text)
    return Request(text, args, f"check the current weather in {city}")


def _answer_get_weather(a: dict[str, Any], r: Any) -> str:
    deg = "°C" if r["unit"] == "celsius" else "°F"
    return (f"It's {r['temperature']}{deg} and {r['condition']} in {r['city']}, "
            f"with {r['humidity_percent']}% humidity.")


_add(CatalogTool(get_weather, _r_get_weather, capability="check the weather",
                 answer=_answer_get_weather,
                 related=("get_forecast",),
                 parallel=Parallel(lambda rng, k: [{"city": c} for c in rng.sample(CITIES, k)],
                                   ("What's the weather in {j}?", "Check the current weather for {j}.",
                                    "How warm is it right now in {j}?"),
                                   lambda a: a["city"])))


def get_forecast(city: str, days: int = 3):
    """Get the weather forecast for the next few days in a city, in degrees Celsius.

    Args:
        city: The city name, for example "Berlin".
        days: Number of days to forecast, from 1 to 7.
    """
    r = _fake("forecast", city)
    out = []
    for day in range(1, max(1, min(days, 7)) + 1):
        high = r.randint(0, 32)
        out.append({"day": day, "high": high, "low": high - r.randint(4, 10), "condition": r.choice(CONDITIONS)})
    return {"city": city, "forecast": out}


def _r_get_forecast(rng: random.Random) -> Request:
    city, days = rng.choice(CITIES), rng.randint(2, 7)
    text = rng.choice(("What's the forecast for {c} for the next {d} days?",
                       "Give me a {d}-day weather forecast for {c}.",
                       "Will it rain in {c} over the next {d} days?")).format(c=city, d=days)
    return Request(text, {"city": city, "days": days}, f"get a {days}-day forecast for {city}")


def _answer_get_forecast(a: dict[str, Any], r: Any) -> str:
    days = "; ".join(f"day {d['day']}: {d['condition']}, {d['low']}–{d['high']}°C" for d in r["forecast"])
    return f"Forecast for {r['city']}: {days}."


_add(CatalogTool(get_forecast, _r_get_forecast, capability="get a weather forecast",
                 answer=_answer_get_forecast,
                 related=("get_weather",)))


def convert_currency(amount: float, from_currency: str, to_currency: str):
    """Convert an amount of money from one currency to another at today's rate.

    Args:
        amount: The amount of money to convert.
        from_currency: Three-letter code of the currency to convert from, for example "USD".
        to_currency: Three-letter code of the currency to convert to, for example "EUR".
    """
    rate = USD_RATES.get(to_currency, 1.0) / USD_RATES.get(from_currency, 1.0)
    return {"amount": amount, "from_currency": from_currency, "to_currency": to_currency, "rate": round(rate, 4),
            "converted_amount": round(amount * rate, 2)}


def _r_convert_currency(rng: random.Random) -> Request:
    src, dst = rng.sample(sorted(USD_RATES), 2)
    amount = _money(rng)
    by_name = rng.random() < 0.5
    s = CURRENCY_NAMES[src] if by_name else src
    d = CURRENCY_NAMES[dst] if by_name else dst
    text = rng.choice(("Convert {a} {s} to {d}.", "How much is {a} {s} in {d}?", "I have {a} {s}. What is that in {d}?",
                       "What do {a} {s} come to in {d}?")).format(a=_num(amount), s=s, d=d)
    return Request(text, {"amount": amount, "from_currency": src, "to_currency": dst},
                   f"convert {_num(amount)} {src} to {dst}")


_add(CatalogTool(convert_currency, _r_convert_currency, capability="convert currencies",
                 answer=lambda a, r: (f"{_num(r['amount'])} {r['from_currency']} is about {r['converted_amount']} "
                                      f"{r['to_currency']} (rate {r['rate']})."),
                 math=True))


def get_stock_price(symbol: str):
    """Get the latest stock price for a ticker symbol, in US dollars.

    Args:
        symbol: The stock ticker symbol, for example "AAPL".
    """
    r = _fake("stock", symbol)
    return {"symbol": symbol, "price": round(r.uniform(20, 900), 2), "currency": "USD",
            "change_percent": round(r.uniform(-4, 4), 2)}


def _r_get_stock_price(rng: random.Random) -> Request:
    symbol = rng.choice(sorted(STOCKS))
    company = STOCKS[symbol]
    text = rng.choice(("What's the current price of {s}?", "How much is {c} stock ({s}) trading at?",
                       "Get me the latest stock price for {s}.", "Check the share price of {c}, ticker {s}.")
                      ).format(s=symbol, c=company)
    return Request(text, {"symbol": symbol}, f"get the stock price of {symbol}")


def _answer_get_stock_price(a: dict[str, Any], r: Any) -> str:
    sign = "+" if r["change_percent"] >= 0 else ""
    return f"{r['symbol']} is trading at ${r['price']} ({sign}{r['change_percent']}% today)."


_add(CatalogTool(get_stock_price, _r_get_stock_price, capability="look up stock prices",
                 answer=_answer_get_stock_price,
                 parallel=Parallel(lambda rng, k: [{"symbol": s} for s in rng.sample(sorted(STOCKS), k)],
                                   ("Get the stock prices of {j}.", "How are {j} trading today?", "Price check: {j}."),
                                   lambda a: a["symbol"])))


def translate(text: str, target_language: str):
    """Translate a short text into another language.

    Args:
        text: The text to translate.
        target_language: The language to translate into, for example "Spanish".
    """
    known = TRANSLATIONS.get(text.lower(), {})
    return {"translation": known.get(target_language, f"[{target_language}] {text}"),
            "target_language": target_language}


def _r_translate(rng: random.Random) -> Request:
    phrase = rng.choice(sorted(TRANSLATIONS))
    language = rng.choice(("French", "Spanish", "German", "Italian", "Portuguese"))
    text = rng.choice(('Translate "{p}" into {l}.', 'How do you say "{p}" in {l}?', 'What is "{p}" in {l}?')
                      ).format(p=phrase, l=language)
    return Request(text, {"text": phrase, "target_language": language}, f'translate "{phrase}" into {language}')


_add(CatalogTool(translate, _r_translate, capability="translate text",
                 answer=lambda a, r: f'In {r["target_language"]}, "{a["text"]}" is "{r["translation"]}".',
                 direct=lambda a, r: f'In {a["target_language"]}, "{a["text"]}" is "{r["translation"]}".'))


def send_email(to: str, subject: str, body: str):
    """Send an email.

    Args:
        to: The recipient's email address.
        subject: The subject line.
        body: The text of the email.
    """
    return {"status": "sent", "to": to, "message_id": f"msg-{_fake('email', to, subject).randint(10000, 99999)}"}


def _r_send_email(rng: random.Random) -> Request:
    to = _email(rng.choice(CONTACTS))
    subject, body = rng.choice(EMAILS)
    text = rng.choice(('Send an email to {t} with the subject "{s}" and the message "{b}"',
                       'Email {t}. Subject: "{s}". Body: "{b}"',
                       'Please write to {t}: subject "{s}", text "{b}"')).format(t=to, s=subject, b=body)
    return Request(text, {"to": to, "subject": subject, "body": body}, f"send an email to {to}")


_add(CatalogTool(send_email, _r_send_email, capability="send emails",
                 answer=lambda a, r: f"Done! Your email to {r['to']} has been sent."))


def get_time(city: str):
    """Get the current local time in a city.

    Args:
        city: The city name, for example "Tokyo".
    """
    r = _fake("time", city)
    return {"city": city, "local_time": f"{r.randint(0, 23):02d}:{r.choice(range(0, 60, 5)):02d}"}


def _r_get_time(rng: random.Random) -> Request:
    city = rng.choice(CITIES)
    text = rng.choice(("What time is it in {c}?", "What's the local time in {c} right now?",
                       "Tell me the current time in {c}.")
                      ).format(c=city)
    return Request(text, {"city": city}, f"find the local time in {city}")


_add(CatalogTool(get_time, _r_get_time, capability="look up the local time",
                 answer=lambda a, r: f"It's {r['local_time']} in {r['city']} right now.",
                 parallel=Parallel(lambda rng, k: [{"city": c} for c in rng.sample(CITIES, k)],
                                   ("What time is it in {j}?", "Tell me the local time in {j}."),
                                   lambda a: a["city"])))


def web_search(search_str: str) -> str:
    """Search the web with DuckDuckGo and return the top results (title, URL and snippet).

    Args:
        search_str: The search query, for example "population of Lyon 2024".
    """
    slug = "-".join(search_str.lower().split())[:40]
    r = _fake("search", search_str)
    sites = r.sample(("wikipedia.org", "britannica.com", "bbc.com", "nationalgeographic.com", "howstuffworks.com"), 2)
    return (f"[1] {search_str[:1].upper() + search_str[1:]} - overview\nhttps://{sites[0]}/{slug}\n"
            f"A summary of {search_str}, with key facts and figures.\n\n"
            f"[2] Guide: {search_str}\nhttps://{sites[1]}/{slug}\n"
            f"Practical details and recent updates about {search_str}.")


def _r_web_search(rng: random.Random) -> Request:
    query = rng.choice(SEARCHES)
    text = rng.choice(("Search the web for {q}.", "Can you look up {q} online?", "Find information on {q}.",
                       "Do a quick web search: {q}")).format(q=query)
    return Request(text, {"search_str": query}, f"search the web for {query}")


def _answer_web_search(a: dict[str, Any], r: Any) -> str:
    first = r.split("\n")
    return f"The top result is \"{first[0][4:]}\" ({first[1]}): {first[2]}"


_add(CatalogTool(web_search, _r_web_search, capability="search the web",
                 answer=_answer_web_search,
                 distractor=False))


# The calculator is the chat runtime's own (smolthink.tools.calculator): training shows the schema a model meets there.
def _r_calculator(rng: random.Random) -> Request:
    a, b, c = rng.randint(12, 999), rng.randint(2, 99), rng.randint(2, 30)
    expression, spoken = rng.choice((  # (what the tool gets, what the user says)
        (f"{a} * {b}", f"{a} times {b}"),
        (f"({a} + {b}) * {c}", f"({a} + {b}) * {c}"),
        (f"{a} / {c}", f"{a} divided by {c}"),
        (f"sqrt({b * b})", f"the square root of {b * b}"),
        (f"{c} ** 3", f"{c} cubed"),
        (f"{a} - {b} * {c}", f"{a} - {b} * {c}"),
    ))
    text = rng.choice(("Use the calculator to work out {s}.", "Calculate {s} for me.",
                       "What is {s}? Please compute it exactly.")
                      ).format(s=spoken)
    return Request(text, {"expression": expression}, f"compute {expression}")


_add(CatalogTool(calculator, _r_calculator, capability="run a calculator",
                 answer=lambda a, r: f"{a['expression']} = {r}.",
                 math=True,
                 direct=lambda a, r: f"{a['expression']} = {r}."))


def calculate_area(shape: Literal["circle", "square", "rectangle", "triangle"], length: float,
                   width: float | None = None):
    """Calculate the area of a simple shape.

    Args:
        shape: The kind of shape.
        length: The radius of a circle, the side of a square, the length of a rectangle or the base of a triangle.
        width: The width of a rectangle or the height of a triangle; not used for circles and squares.
    """
    if shape == "circle":
        area = math.pi * length**2
    elif shape == "square":
        area = length**2
    elif shape == "rectangle":
        area = length * (width or 0)
    else:
        area = length * (width or 0) / 2
    return {"shape": shape, "area": round(area, 2)}


def _r_calculate_area(rng: random.Random) -> Request:
    shape = rng.choice(("circle", "square", "rectangle", "triangle"))
    length = rng.randint(2, 30)
    args: dict[str, Any] = {"shape": shape, "length": length}
    if shape == "circle":
        text = rng.choice(("What is the area of a circle with a radius of {l} cm?",
                           "Find the area of a circle of radius {l}."))
    elif shape == "square":
        text = rng.choice(("What's the area of a square with sides of {l} m?",
                           "Find the area of a square whose side is {l}."))
    else:
        args["width"] = rng.randint(2, 30)
        text = (rng.choice(("Calculate the area of a rectangle {l} by {w}.",
                            "What's the area of a {l} x {w} rectangle?"))
                if shape == "rectangle" else
                rng.choice(("What is the area of a triangle with base {l} and height {w}?",
                            "Find the area of a triangle: base {l}, height {w}.")))
    return Request(text.format(l=length, w=args.get("width")), args, f"find the area of a {shape}")


_add(CatalogTool(calculate_area, _r_calculate_area, capability="calculate areas",
                 answer=lambda a, r: f"The area of the {r['shape']} is {r['area']} square units.",
                 math=True,
                 direct=lambda a, r: f"The area is {r['area']} square units."))


def search_flights(origin: str, destination: str, date: str, passengers: int = 1):
    """Search for flights between two cities on a given date.

    Args:
        origin: The departure city.
        destination: The arrival city.
        date: The travel date in YYYY-MM-DD format.
        passengers: Number of passengers.
    """
    r = _fake("flights", origin, destination, date)
    flights = []
    for _ in range(3):
        code = r.choice(("AF", "BA", "LH", "IB", "KL", "UA", "DL", "AZ", "TP", "JL"))
        flights.append({"flight_number": f"{code}{r.randint(100, 9999)}",
                        "departure_time": f"{r.randint(6, 21):02d}:{r.choice(range(0, 60, 5)):02d}",
                        "price": r.randint(60, 900) * passengers, "currency": "USD"})
    return {"origin": origin, "destination": destination, "date": date, "flights": flights}


def _r_search_flights(rng: random.Random) -> Request:
    origin, destination = rng.sample(CITIES, 2)
    iso, said = _date(rng)
    args: dict[str, Any] = {"origin": origin, "destination": destination, "date": iso}
    people = ""
    if rng.random() < 0.35:
        args["passengers"] = rng.randint(2, 5)
        people = f" for {args['passengers']} people"
    text = rng.choice(("Find flights from {o} to {d} on {t}{p}.", "Are there any flights {o} to {d} on {t}{p}?",
                       "Search for a flight from {o} to {d}, departing {t}{p}.")
                      ).format(o=origin, d=destination, t=said, p=people)
    return Request(text, args, f"search flights from {origin} to {destination} on {iso}")


def _answer_search_flights(a: dict[str, Any], r: Any) -> str:
    best = min(r["flights"], key=lambda f: f["price"])
    listing = ", ".join(f"{f['flight_number']} at {f['departure_time']} (${f['price']})" for f in r["flights"])
    return f"I found {len(r['flights'])} flights: {listing}. The cheapest is {best['flight_number']}."


_add(CatalogTool(search_flights, _r_search_flights, capability="search for flights",
                 answer=_answer_search_flights))


def book_flight(flight_number: str, passengers: int = 1):
    """Book seats on a flight.

    Args:
        flight_number: The flight number, for example "BA117".
        passengers: Number of seats to book.
    """
    r = _fake("booking", flight_number, passengers)
    return {"status": "confirmed", "flight_number": flight_number, "passengers": passengers,
            "confirmation_code": "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))}


def _r_book_flight(rng: random.Random) -> Request:
    number = rng.choice(("AF", "BA", "LH", "IB", "KL", "UA")) + str(rng.randint(100, 9999))
    args: dict[str, Any] = {"flight_number": number}
    seats = ""
    if rng.random() < 0.5:
        args["passengers"] = rng.randint(2, 4)
        seats = f" for {args['passengers']} passengers"
    text = rng.choice(("Book flight {n}{s}.", "Please reserve seats on flight {n}{s}.", "I'd like to book {n}{s}.")
                      ).format(n=number, s=seats)
    return Request(text, args, f"book flight {number}")


_add(CatalogTool(book_flight, _r_book_flight, capability="book flights",
                 answer=lambda a, r: (f"Your booking on {r['flight_number']} for {r['passengers']} is confirmed. "
                                      f"Confirmation code: {r['confirmation_code']}.")))


def set_reminder(message: str, time: str):
    """Set a reminder for later today.

    Args:
        message: What to be reminded about.
        time: The time of the reminder in 24-hour HH:MM format, for example "18:30".
    """
    return {"status": "scheduled", "message": message, "time": time}


def _r_set_reminder(rng: random.Random) -> Request:
    message = rng.choice(REMINDERS)
    hhmm, said = _time(rng)
    text = rng.choice(("Remind me to {m} at {t}.", "Set a reminder at {t} to {m}.", "Can you remind me at {t} to {m}?")
                      ).format(m=message, t=said)
    return Request(text, {"message": message, "time": hhmm}, f"set a reminder to {message} at {hhmm}")


_add(CatalogTool(set_reminder, _r_set_reminder, capability="set reminders",
                 answer=lambda a, r: f"Reminder set for {r['time']}: {r['message']}.",
                 related=("create_calendar_event",)))


def find_recipes(ingredient: str, diet: Literal["any", "vegetarian", "vegan", "gluten-free"] = "any",
                 max_minutes: int = 60):
    """Find recipes that use an ingredient.

    Args:
        ingredient: The main ingredient, for example "chicken".
        diet: A dietary restriction the recipes must follow.
        max_minutes: The longest total cooking time allowed, in minutes.
    """
    r = _fake("recipes", ingredient, diet)
    styles = ("Garlic", "Lemon", "Spicy", "Creamy", "Roasted", "Herb", "Honey", "Smoky")
    dishes = ("Stir-Fry", "Salad", "Soup", "Curry", "Bake", "Skillet", "Bowl", "Tacos")
    recipes = [{"name": f"{r.choice(styles)} {ingredient.title()} {r.choice(dishes)}",
                "minutes": r.randint(10, max(10, max_minutes))} for _ in range(2)]
    return {"ingredient": ingredient, "diet": diet, "recipes": recipes}


def _r_find_recipes(rng: random.Random) -> Request:
    ingredient = rng.choice(INGREDIENTS)
    args: dict[str, Any] = {"ingredient": ingredient}
    extras = []
    if rng.random() < 0.4:
        args["diet"] = rng.choice(("vegetarian", "vegan", "gluten-free"))
        extras.append(args["diet"])
    limit = ""
    if rng.random() < 0.4:
        args["max_minutes"] = rng.choice((15, 20, 30, 45))
        limit = f" that take at most {args['max_minutes']} minutes"
    diet = (extras[0] + " ") if extras else ""
    text = rng.choice(("Find me some {d}recipes with {i}{l}.", "What {d}dishes can I make with {i}{l}?",
                       "Suggest {d}recipes using {i}{l}.")).format(d=diet, i=ingredient, l=limit)
    return Request(text, args, f"find recipes with {ingredient}")


def _answer_find_recipes(a: dict[str, Any], r: Any) -> str:
    names = " and ".join(f"{x['name']} ({x['minutes']} min)" for x in r["recipes"])
    return f"Here are two ideas: {names}."


_add(CatalogTool(find_recipes, _r_find_recipes, capability="look up recipes",
                 answer=_answer_find_recipes))


def calculate_bmi(weight_kg: float, height_m: float):
    """Calculate the body mass index (BMI).

    Args:
        weight_kg: Body weight in kilograms.
        height_m: Height in meters.
    """
    bmi = round(weight_kg / height_m**2, 1)
    category = "underweight" if bmi < 18.5 else "normal weight" if bmi < 25 else "overweight" if bmi < 30 else "obese"
    return {"bmi": bmi, "category": category}


def _r_calculate_bmi(rng: random.Random) -> Request:
    weight, height = rng.randint(45, 110), round(rng.uniform(1.5, 1.95), 2)
    text = rng.choice(("What's the BMI of someone who weighs {w} kg and is {h} m tall?",
                       "Calculate my BMI: I'm {h} m tall and weigh {w} kg.",
                       "BMI for {w} kg at {h} m?")).format(w=weight, h=height)
    return Request(text, {"weight_kg": weight, "height_m": height}, "calculate a BMI")


_add(CatalogTool(calculate_bmi, _r_calculate_bmi, capability="calculate a BMI",
                 answer=lambda a, r: f"The BMI is {r['bmi']}, which is in the {r['category']} range.",
                 math=True,
                 direct=lambda a, r: (f"That BMI is {a['weight_kg']} / {a['height_m']}² ≈ {r['bmi']} "
                                      f"({r['category']}).")))


def get_distance(origin: str, destination: str, unit: Literal["km", "miles"] = "km"):
    """Get the driving distance between two cities.

    Args:
        origin: The starting city.
        destination: The destination city.
        unit: The unit of distance.
    """
    km = _fake("distance", *sorted((origin, destination))).randint(40, 1500)
    return {"origin": origin, "destination": destination, "distance": km if unit == "km" else round(km * 0.621371),
            "unit": unit}


def _r_get_distance(rng: random.Random) -> Request:
    origin, destination = rng.sample(rng.choice(DRIVING_REGIONS), 2)
    args: dict[str, Any] = {"origin": origin, "destination": destination}
    unit = ""
    if rng.random() < 0.4:
        args["unit"] = rng.choice(("km", "miles"))
        unit = f" in {args['unit']}"
    text = rng.choice(("How far is it from {o} to {d}{u}?", "What's the driving distance between {o} and {d}{u}?",
                       "Distance from {o} to {d}{u}, please.")).format(o=origin, d=destination, u=unit)
    return Request(text, args, f"get the distance from {origin} to {destination}")


_add(CatalogTool(get_distance, _r_get_distance, capability="look up distances between cities",
                 answer=lambda a, r: f"It's {r['distance']} {r['unit']} from {r['origin']} to {r['destination']}."))


def search_restaurants(city: str, cuisine: str):
    """Search for restaurants in a city that serve a given cuisine.

    Args:
        city: The city to search in.
        cuisine: The type of food, for example "Italian".
    """
    r = _fake("restaurants", city, cuisine)
    first = ("Casa", "Little", "Golden", "Blue", "Old", "Royal", "Green", "Happy", "Silver", "Red")
    second = ("Garden", "Kitchen", "Table", "Lantern", "Corner", "House", "Spoon", "Olive", "Bistro", "Oven")
    names = r.sample([f"{a} {b}" for a in first for b in second], 3)
    ratings = sorted((round(r.uniform(3.6, 4.9), 1) for _ in names), reverse=True)
    return {"city": city, "cuisine": cuisine, "restaurants": [{"name": n, "rating": x} for n, x in zip(names, ratings)]}


def _r_search_restaurants(rng: random.Random) -> Request:
    city, cuisine = rng.choice(CITIES), rng.choice(CUISINES)
    text = rng.choice(("Find {c} restaurants in {t}.", "Any good {c} places to eat in {t}?",
                       "I'm in {t} and craving {c} food. Where can I go?")
                      ).format(c=cuisine, t=city)
    return Request(text, {"city": city, "cuisine": cuisine}, f"find {cuisine} restaurants in {city}")


def _answer_search_restaurants(a: dict[str, Any], r: Any) -> str:
    top = r["restaurants"][0]
    others = ", ".join(f"{x['name']} ({x['rating']})" for x in r["restaurants"][1:])
    return (f"The best-rated {r['cuisine']} place in {r['city']} is {top['name']} ({top['rating']} stars); "
            f"also try {others}.")


_add(CatalogTool(search_restaurants, _r_search_restaurants, capability="search for restaurants",
                 answer=_answer_search_restaurants))


def book_table(restaurant: str, date: str, time: str, people: int):
    """Reserve a table at a restaurant.

    Args:
        restaurant: The restaurant's name.
        date: The date in YYYY-MM-DD format.
        time: The time in 24-hour HH:MM format.
        people: Number of guests.
    """
    return {"status": "confirmed", "restaurant": restaurant, "date": date, "time": time, "people": people,
            "reservation_id": f"R{_fake('table', restaurant, date, time).randint(1000, 9999)}"}


def _r_book_table(rng: random.Random) -> Request:
    r = _fake("name", rng.random())
    restaurant = f"{r.choice(('Casa', 'Little', 'Golden', 'Blue', 'Royal'))} {r.choice(('Garden', 'Kitchen', 'Olive'))}"
    iso, said_date = _date(rng)
    hhmm, said_time = _time(rng)
    people = rng.randint(2, 8)
    text = rng.choice(("Book a table for {p} at {r} on {d} at {t}.", "Reserve {r} for {p} people, {d}, {t}.",
                       "Can you get us a table at {r} on {d} at {t}? We are {p}.")
                      ).format(p=people, r=restaurant, d=said_date, t=said_time)
    return Request(text, {"restaurant": restaurant, "date": iso, "time": hhmm, "people": people},
                   f"book a table at {restaurant}")


_add(CatalogTool(book_table, _r_book_table, capability="book restaurant tables",
                 answer=lambda a, r: (f"Your table for {r['people']} at {r['restaurant']} on {r['date']} "
                                      f"at {r['time']} is confirmed (reservation {r['reservation_id']}).")))


def lookup_word(word: str):
    """Look up the definition of an English word.

    Args:
        word: The word to define.
    """
    part, definition = DICTIONARY.get(word.lower(), ("unknown", "no definition found"))
    return {"word": word, "part_of_speech": part, "definition": definition}


def _r_lookup_word(rng: random.Random) -> Request:
    word = rng.choice(sorted(DICTIONARY))
    text = rng.choice(('What does "{w}" mean?', "Define the word {w}.", "Look up the meaning of {w}.")).format(w=word)
    return Request(text, {"word": word}, f'look up the word "{word}"')


_add(CatalogTool(lookup_word, _r_lookup_word, capability="look up word definitions",
                 answer=lambda a, r: f'"{r["word"]}" ({r["part_of_speech"]}) means {r["definition"]}.',
                 related=("web_search",),
                 direct=lambda a, r: f'"{a["word"]}" means {r["definition"]}.',
                 parallel=Parallel(lambda rng, k: [{"word": w} for w in rng.sample(sorted(DICTIONARY), k)],
                                   ("Define these words: {j}.", "What do {j} mean?"),
                                   lambda a: f'"{a["word"]}"')))


def find_contact(name: str):
    """Find a person in the address book and return their email address and phone number.

    Args:
        name: The person's full name.
    """
    return {"name": name, "email": _email(name), "phone": f"+1-555-{_fake('phone', name).randint(1000, 9999)}"}


def _r_find_contact(rng: random.Random) -> Request:
    name = rng.choice(CONTACTS)
    text = rng.choice(("What's {n}'s phone number?", "Find the contact details for {n}.", "Look up {n} in my contacts.")
                      ).format(n=name)
    return Request(text, {"name": name}, f"find {name}'s contact details")


_add(CatalogTool(find_contact, _r_find_contact, capability="look up contacts",
                 answer=lambda a, r: f"{r['name']}: email {r['email']}, phone {r['phone']}.",
                 parallel=Parallel(lambda rng, k: [{"name": n} for n in rng.sample(CONTACTS, k)],
                                   ("Find the contact details for {j}.", "Look up {j} in my contacts."),
                                   lambda a: a["name"])))


def convert_temperature(value: float, from_unit: Literal["celsius", "fahrenheit", "kelvin"],
                        to_unit: Literal["celsius", "fahrenheit", "kelvin"]):
    """Convert a temperature between Celsius, Fahrenheit and Kelvin.

    Args:
        value: The temperature to convert.
        from_unit: The unit of the given temperature.
        to_unit: The unit to convert to.
    """
    celsius = {"celsius": value, "fahrenheit": (value - 32) * 5 / 9, "kelvin": value - 273.15}[from_unit]
    result = {"celsius": celsius, "fahrenheit": celsius * 9 / 5 + 32, "kelvin": celsius + 273.15}[to_unit]
    return {"value": value, "from_unit": from_unit, "to_unit": to_unit, "result": round(result, 2)}


def _r_convert_temperature(rng: random.Random) -> Request:
    src, dst = rng.sample(("celsius", "fahrenheit", "kelvin"), 2)
    low, high = {"celsius": (-20, 40), "fahrenheit": (0, 100), "kelvin": (250, 320)}[src]
    value = rng.randint(low, high)
    text = rng.choice(("Convert {v} degrees {s} to {d}.", "What is {v} {s} in {d}?", "{v} {s} is how much in {d}?")
                      ).format(v=value, s=src.capitalize() if src != "kelvin" else "kelvin",
                               d=dst.capitalize() if dst != "kelvin" else "kelvin")
    return Request(text, {"value": value, "from_unit": src, "to_unit": dst}, f"convert {value} {src} to {dst}")


_add(CatalogTool(convert_temperature, _r_convert_temperature, capability="convert temperatures",
                 answer=lambda a, r: (f"{_num(r['value'])} {_DEGREES[r['from_unit']]} is "
                                      f"{_num(r['result'])} {_DEGREES[r['to_unit']]}."),
                 math=True,
                 direct=lambda a, r: (f"{_num(a['value'])} {_DEGREES[a['from_unit']]} is "
                                      f"{_num(r['result'])} {_DEGREES[a['to_unit']]}.")))


def calculate_tip(bill_amount: float, tip_percent: float = 15):
    """Calculate the tip and the total for a restaurant bill.

    Args:
        bill_amount: The bill before the tip.
        tip_percent: The tip as a percentage of the bill, for example 15.
    """
    tip = round(bill_amount * tip_percent / 100, 2)
    return {"tip": tip, "total": round(bill_amount + tip, 2)}


def _r_calculate_tip(rng: random.Random) -> Request:
    bill = rng.choice((rng.randint(12, 250), round(rng.uniform(10, 200), 2)))
    args: dict[str, Any] = {"bill_amount": bill}
    if rng.random() < 0.6:
        args["tip_percent"] = rng.choice((10, 12, 18, 20, 25))
        text = rng.choice(("What's a {p}% tip on a ${b} bill?",
                           "Our bill is ${b}. How much is the tip at {p}%, and the total?"))
    else:
        text = rng.choice(("How much should I tip on a ${b} bill?", "Work out the tip for a ${b} dinner."))
    return Request(text.format(b=_num(bill), p=args.get("tip_percent")), args,
                   f"calculate the tip on a ${_num(bill)} bill")


_add(CatalogTool(calculate_tip, _r_calculate_tip, capability="calculate tips",
                 answer=lambda a, r: f"The tip is ${r['tip']}, so the total is ${r['total']}.",
                 math=True,
                 direct=lambda a, r: f"The tip is ${r['tip']}, for a total of ${r['total']}."))


def compound_interest(principal: float, annual_rate: float, years: int, compounds_per_year: int = 1):
    """Calculate the final amount of an investment with compound interest.

    Args:
        principal: The amount invested at the start.
        annual_rate: The yearly interest rate in percent, for example 5 for 5%.
        years: The number of years.
        compounds_per_year: How many times per year the interest is added.
    """
    final = principal * (1 + annual_rate / 100 / compounds_per_year) ** (compounds_per_year * years)
    return {"final_amount": round(final, 2), "interest_earned": round(final - principal, 2)}


def _r_compound_interest(rng: random.Random) -> Request:
    principal, rate, years = rng.randint(5, 200) * 100, rng.choice((2, 3, 4, 5, 6, 7, 3.5, 4.5)), rng.randint(2, 30)
    args: dict[str, Any] = {"principal": principal, "annual_rate": rate, "years": years}
    how = ""
    if rng.random() < 0.3:
        args["compounds_per_year"] = rng.choice((4, 12))
        how = " compounded " + ("quarterly" if args["compounds_per_year"] == 4 else "monthly")
    text = rng.choice(("If I invest ${p} at {r}% a year{h} for {y} years, how much will I have?",
                       "Calculate compound interest on ${p} at {r}% annual interest{h} over {y} years.",
                       "What will ${p} grow to in {y} years at {r}%{h}?")
                      ).format(p=principal, r=_num(rate), h=how, y=years)
    return Request(text, args, f"compute compound interest on ${principal}")


_add(CatalogTool(compound_interest, _r_compound_interest, capability="calculate compound interest",
                 answer=lambda a, r: (f"You would end up with ${r['final_amount']}, "
                                      f"earning ${r['interest_earned']} in interest."),
                 math=True,
                 direct=lambda a, r: f"After {a['years']} years you would have about ${r['final_amount']}."))


def get_news_headlines(topic: str, count: int = 3):
    """Get the latest news headlines about a topic.

    Args:
        topic: The news topic, for example "technology".
        count: How many headlines to return.
    """
    r = _fake("news", topic)
    forms = ("New report shows big changes in {t}", "Experts debate the future of {t}", "{T}: what to watch this week",
             "Record year for {t}, analysts say", "Five things to know about {t} today", "Why {t} is in the spotlight")
    picks = r.sample(forms, min(max(count, 1), len(forms)))
    return {"topic": topic, "headlines": [f.format(t=topic, T=topic.capitalize()) for f in picks]}


def _r_get_news_headlines(rng: random.Random) -> Request:
    topic = rng.choice(TOPICS)
    args: dict[str, Any] = {"topic": topic}
    count_text = "the latest"
    if rng.random() < 0.4:
        args["count"] = rng.randint(2, 5)
        count_text = f"the top {args['count']}"
    text = rng.choice(("Show me {n} headlines about {t}.", "What's in the news about {t}? Give me {n} headlines.",
                       "Get {n} news headlines on {t}.")).format(n=count_text, t=topic)
    return Request(text, args, f"get news headlines about {topic}")


_add(CatalogTool(get_news_headlines, _r_get_news_headlines, capability="get news headlines",
                 answer=lambda a, r: f"Latest on {r['topic']}: " + "; ".join(r["headlines"]) + ".",
                 related=("web_search",)))


def create_calendar_event(title: str, date: str, time: str, duration_minutes: int = 60):
    """Add an event to the calendar.

    Args:
        title: The event title.
        date: The date in YYYY-MM-DD format.
        time: The start time in 24-hour HH:MM format.
        duration_minutes: How long the event lasts, in minutes.
    """
    return {"status": "created", "event_id": f"evt-{_fake('event', title, date, time).randint(1000, 9999)}",
            "title": title, "date": date, "time": time, "duration_minutes": duration_minutes}


def _r_create_calendar_event(rng: random.Random) -> Request:
    title = rng.choice(EVENTS)
    iso, said_date = _date(rng)
    hhmm, said_time = _time(rng)
    args: dict[str, Any] = {"title": title, "date": iso, "time": hhmm}
    length = ""
    if rng.random() < 0.4:
        args["duration_minutes"] = rng.choice((15, 30, 45, 90, 120))
        length = f" for {args['duration_minutes']} minutes"
    text = rng.choice(('Add "{e}" to my calendar on {d} at {t}{l}.', 'Schedule "{e}" for {d} at {t}{l}.',
                       'Put an event called "{e}" in my calendar: {d}, {t}{l}.')
                      ).format(e=title, d=said_date, t=said_time, l=length)
    return Request(text, args, f'add "{title}" to the calendar')


_add(CatalogTool(create_calendar_event, _r_create_calendar_event, capability="add calendar events",
                 answer=lambda a, r: (f'"{r["title"]}" is on your calendar for {r["date"]} at {r["time"]} '
                                      f'({r["duration_minutes"]} min).'),
                 related=("set_reminder",)))


# -------------------------------------------------------------------------------------- tables made from the records

CATALOG: list[Tool] = [tool(record.fn) for record in TOOLS.values()]
BY_NAME: dict[str, Tool] = {t.name: t for t in CATALOG}
REQUESTS: dict[str, Callable[[random.Random], Request]] = {name: record.request for name, record in TOOLS.items()}
# Tools that can do the same job: never offered as a distractor for each other, nor in an irrelevance item.
MATH_TOOLS = frozenset(name for name, record in TOOLS.items() if record.math)
RELATED = {name: {*record.related, *(["calculator"] if record.math else [])}
           for name, record in TOOLS.items() if record.related or record.math}
RELATED["calculator"] = set(MATH_TOOLS)
NEVER_DISTRACTOR = {name for name, record in TOOLS.items() if not record.distractor}


def related(name: str) -> set[str]:
    """The tools that could also serve a request meant for `name` (including itself)."""
    return {name} | RELATED.get(name, set())


# What the irrelevance kind answers without a tool: general knowledge, and small talk.
GENERAL_QA = (
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is the capital of Japan?", "The capital of Japan is Tokyo."),
    ("What is the capital of Canada?", "The capital of Canada is Ottawa."),
    ("What is the capital of Australia?", "The capital of Australia is Canberra."),
    ("How many days are in a week?", "There are 7 days in a week."),
    ("How many continents are there?", "There are 7 continents."),
    ("What color do you get when you mix blue and yellow?", "Mixing blue and yellow gives green."),
    ("Who wrote Romeo and Juliet?", "Romeo and Juliet was written by William Shakespeare."),
    ("What is the boiling point of water at sea level in Celsius?", "Water boils at 100 °C at sea level."),
    ("What is the largest planet in our solar system?", "Jupiter is the largest planet in our solar system."),
    ("What gas do plants absorb from the air?", "Plants absorb carbon dioxide from the air."),
    ("How many legs does a spider have?", "A spider has 8 legs."),
    ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au."),
    ("What is 7 times 8?", "7 times 8 is 56."),
    ("What is 15 plus 27?", "15 plus 27 is 42."),
    ("How many minutes are in an hour?", "There are 60 minutes in an hour."),
    ("At what temperature does water freeze in Fahrenheit?", "Water freezes at 32 °F."),
    ("Which ocean is the largest?", "The Pacific Ocean is the largest."),
    ("What is the opposite of 'hot'?", "The opposite of 'hot' is 'cold'."),
    ("How many sides does a hexagon have?", "A hexagon has 6 sides."),
    ("Who painted the Mona Lisa?", "The Mona Lisa was painted by Leonardo da Vinci."),
    ("What is the square root of 81?", "The square root of 81 is 9."),
    ("What language is mainly spoken in Brazil?", "The main language of Brazil is Portuguese."),
    ("How many hours are in a day?", "There are 24 hours in a day."),
    ("What is the smallest prime number?", "The smallest prime number is 2."),
    ("Which planet is known as the Red Planet?", "Mars is known as the Red Planet."),
)
SMALL_TALK = (
    ("Hi! How are you?", "I'm doing well, thanks for asking! How can I help you today?"),
    ("Thanks, that's all I needed.", "You're welcome! Have a great day."),
    ("Tell me a joke.", "Why don't scientists trust atoms? Because they make up everything!"),
    ("Write a haiku about rain.", "Soft rain on the roof,\nquiet streets shine silver-gray,\nthe garden drinks deep."),
    ("Can you suggest a name for my new puppy?", "How about Biscuit, Luna or Max?"),
    ("Give me a tip for staying focused while studying.",
     "Work in 25-minute blocks with short breaks, and keep your phone in another room."),
    ("Can you help me write a short birthday message for my sister?",
     "Happy birthday to the best sister in the world! Wishing you a year full of laughter and adventures."),
    ("Good morning!", "Good morning! What can I do for you today?"),
    ("What's your name?", "I'm SmolLM, a small AI assistant. How can I help?"),
)


# ---------------------------------------------------------------------------------------------------- assembling


def _call(name: str, args: dict[str, Any], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A checked tool call: arguments that do not fit the schema (the catalog tool's, unless given) are a generator
    bug."""
    problem = validate_arguments(schema or BY_NAME[name].schema, args)
    if problem is not None:
        raise ValueError(f"synthetic-tools generated invalid arguments for {name}: {problem} ({args!r})")
    return {"type": "function", "function": {"name": name, "arguments": args}}


def _run(name: str, args: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Call the catalog function; return its value and the tool message holding it."""
    value = BY_NAME[name].fn(**args)
    content = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return value, {"role": "tool", "name": name, "content": content}


def _distractors(rng: random.Random, used: set[str], k: int) -> list[str]:
    blocked = set(NEVER_DISTRACTOR)
    for name in used:
        blocked |= related(name)
    pool = sorted(set(BY_NAME) - blocked)
    return rng.sample(pool, min(k, len(pool)))


def _offer(rng: random.Random, offered: Sequence[str | dict]) -> list[dict[str, Any]]:
    """The tools list, shuffled: catalog or solver names looked up, schemas (formula tools) as they are."""
    schemas = [o if isinstance(o, dict) else (BY_NAME.get(o) or task_tools.SOLVERS[o]).schema for o in offered]
    schemas = list({s["function"]["name"]: s for s in schemas}.values())
    rng.shuffle(schemas)
    return schemas


def described(name: str) -> str:
    """'get the current weather in a city': what a catalog tool does, in its description's words (`wording`)."""
    return wording.described(BY_NAME[name].schema["function"]["description"])


def _single(rng: random.Random, multiple: bool) -> tuple[list, list[str], dict]:
    name = rng.choice(sorted(BY_NAME))
    req = REQUESTS[name](rng)
    others = _distractors(rng, {name}, rng.randint(2, 3) if multiple else rng.randint(0, 1))
    reasoning = wording.call_reasoning(rng, req.goal, name, others, req.args, described)
    messages = [{"role": "user", "content": req.text},
                {"role": "assistant", "content": "", "reasoning": reasoning, "tool_calls": [_call(name, req.args)]}]
    return messages, [name, *others], {}


def _answer_from_result(rng: random.Random) -> tuple[list, list[str], dict]:
    name = rng.choice(sorted(BY_NAME))
    req = REQUESTS[name](rng)
    others = _distractors(rng, {name}, rng.randint(0, 2))
    result, tool_msg = _run(name, req.args)
    after = wording.after_result(rng, name)
    messages = [{"role": "user", "content": req.text},
                {"role": "assistant", "content": "",
                 "reasoning": wording.call_reasoning(rng, req.goal, name, others, req.args, described),
                 "tool_calls": [_call(name, req.args)]},
                tool_msg,
                {"role": "assistant", "content": TOOLS[name].answer(req.args, result), "reasoning": after}]
    return messages, [name, *others], {}


def _parallel(rng: random.Random) -> tuple[list, list[str], dict]:
    k = rng.choice((2, 2, 3))
    if rng.random() < 0.5:
        name = rng.choice(sorted(n for n, record in TOOLS.items() if record.parallel))
        same = TOOLS[name].parallel
        arg_list = same.args(rng, k)
        labels = [same.label(a) for a in arg_list]
        text = rng.choice(same.templates).format(j=join_words(labels))
        calls = [(name, a) for a in arg_list]
        used = [name]
        others = _distractors(rng, set(used), rng.randint(0, 3))
        reasoning = wording.parallel_same(rng, labels, name, others, described)
    else:
        names = rng.sample(sorted(set(BY_NAME) - {"web_search"}), k)
        reqs = [REQUESTS[n](rng) for n in names]
        joiner = rng.choice((" ", " Also: ", "\n"))
        text = joiner.join(r.text for r in reqs)
        calls = [(n, r.args) for n, r in zip(names, reqs)]
        used = names
        others = _distractors(rng, set(used), rng.randint(0, max(0, 4 - len(used))))
        reasoning = wording.parallel_different(rng, [r.goal for r in reqs], names, others, described)
    messages = [{"role": "user", "content": text},
                {"role": "assistant", "content": "", "reasoning": reasoning,
                 "tool_calls": [_call(n, a) for n, a in calls]}]
    return messages, [*used, *others], {}


def _multi_step(rng: random.Random) -> tuple[list, list[str], dict]:
    chain = rng.choice(("stock_currency", "contact_email", "restaurant_booking", "flight_booking", "distance_time"))
    user: str
    steps: list[tuple[str, dict[str, Any], str]] = []  # (tool, args, reasoning before the call)
    if chain == "stock_currency":
        symbol = rng.choice(sorted(STOCKS))
        currency = rng.choice(sorted(set(USD_RATES) - {"USD"}))
        user = rng.choice(("How much is one share of {s} in {c}?", "What does a {s} share cost in {c}?",
                           "Give me the {s} stock price converted to {c}.")
                          ).format(s=symbol, c=CURRENCY_NAMES[currency])
        first = {"symbol": symbol}
        r1 = get_stock_price(**first)
        second = {"amount": r1["price"], "from_currency": "USD", "to_currency": currency}
        steps = [("get_stock_price", first, wording.multi_step(chain, 0, symbol=symbol)),
                 ("convert_currency", second,
                  wording.multi_step(chain, 1, symbol=symbol, price=r1["price"], currency=currency))]
        final = lambda r2: (  # noqa: E731
            f"One {symbol} share costs ${r1['price']}, which is about {r2['converted_amount']} {currency}.")
    elif chain == "contact_email":
        person = rng.choice(CONTACTS)
        subject, body = rng.choice(EMAILS)
        user = rng.choice(('Email {n} with the subject "{s}" and the message "{b}"',
                           'Send {n} an email. Subject: "{s}". Text: "{b}"')).format(n=person, s=subject, b=body)
        first = {"name": person}
        r1 = find_contact(**first)
        second = {"to": r1["email"], "subject": subject, "body": body}
        steps = [("find_contact", first, wording.multi_step(chain, 0, person=person)),
                 ("send_email", second, wording.multi_step(chain, 1, person=person, email=r1["email"]))]
        final = lambda r2: f"Done! I emailed {person} at {r1['email']}."  # noqa: E731
    elif chain == "restaurant_booking":
        city, cuisine = rng.choice(CITIES), rng.choice(CUISINES)
        iso, said_date = _date(rng)
        hhmm, said_time = _time(rng)
        people = rng.randint(2, 6)
        user = rng.choice(("Find the best {c} restaurant in {t} and book a table for {p} on {d} at {h}.",
                           "Book us a table for {p} at the top-rated {c} place in {t}, {d} at {h}.")
                          ).format(c=cuisine, t=city, p=people, d=said_date, h=said_time)
        first = {"city": city, "cuisine": cuisine}
        r1 = search_restaurants(**first)
        top = r1["restaurants"][0]
        second = {"restaurant": top["name"], "date": iso, "time": hhmm, "people": people}
        steps = [("search_restaurants", first, wording.multi_step(chain, 0, cuisine=cuisine, city=city)),
                 ("book_table", second, wording.multi_step(chain, 1, restaurant=top["name"], rating=top["rating"],
                                                           people=people, date=iso, time=hhmm))]
        final = lambda r2: (  # noqa: E731
            f"Booked! {top['name']} for {people} on {iso} at {hhmm}, reservation {r2['reservation_id']}.")
    elif chain == "flight_booking":
        origin, destination = rng.sample(CITIES, 2)
        iso, said = _date(rng)
        people = rng.randint(1, 3)
        user = rng.choice(("Book the cheapest flight from {o} to {d} on {t}{p}.",
                           "Find flights {o} to {d} on {t} and book the cheapest one{p}.")
                          ).format(o=origin, d=destination, t=said,
                                   p="" if people == 1 else f" for {people} passengers")
        first = {"origin": origin, "destination": destination, "date": iso}
        if people > 1:
            first["passengers"] = people
        r1 = search_flights(**first)
        best = min(r1["flights"], key=lambda f: f["price"])
        second = {"flight_number": best["flight_number"]}
        if people > 1:
            second["passengers"] = people
        steps = [("search_flights", first,
                  wording.multi_step(chain, 0, origin=origin, destination=destination, date=iso)),
                 ("book_flight", second,
                  wording.multi_step(chain, 1, flight=best["flight_number"], price=best["price"]))]
        final = lambda r2: (  # noqa: E731
            f"Booked {best['flight_number']} (${best['price']}, departs {best['departure_time']}). "
            f"Confirmation code: {r2['confirmation_code']}.")
    else:
        origin, destination = rng.sample(rng.choice(DRIVING_REGIONS), 2)
        speed = rng.choice((60, 70, 80, 90, 100, 110))
        user = rng.choice(("How long does it take to drive from {o} to {d} at {s} km/h?",
                           "At {s} km/h, how many hours is the drive from {o} to {d}?")
                          ).format(o=origin, d=destination, s=speed)
        first = {"origin": origin, "destination": destination, "unit": "km"}
        r1 = get_distance(**first)
        second = {"expression": f"{r1['distance']} / {speed}"}
        steps = [("get_distance", first, wording.multi_step(chain, 0, origin=origin, destination=destination)),
                 ("calculator", second, wording.multi_step(chain, 1, distance=r1["distance"], speed=speed))]
        final = lambda r2: (  # noqa: E731
            f"It's {r1['distance']} km, so about {round(float(r2), 1)} hours of driving at {speed} km/h.")
    messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
    value = None
    for name, args, reasoning in steps:
        messages.append({"role": "assistant", "content": "", "reasoning": reasoning, "tool_calls": [_call(name, args)]})
        value, tool_msg = _run(name, args)
        messages.append(tool_msg)
    messages.append({"role": "assistant", "content": final(value), "reasoning": wording.multi_step_done(rng)})
    used = [s[0] for s in steps]
    others = _distractors(rng, set(used), rng.randint(0, 1))
    return messages, [*used, *others], {"chain": chain}


# Tools that take numbers but do none of the synthetic-reasoning tasks: near misses for a math problem.
_NUMERIC_TOOLS = ["calculate_area", "calculate_bmi", "compound_interest", "convert_temperature", "get_distance"]


def _irrelevance(rng: random.Random) -> tuple[list, list[str], dict]:
    roll = rng.random()
    if roll < 0.35:  # a request for a tool that is not offered
        needed = rng.choice(sorted(set(BY_NAME) - {"web_search"}))
        req = REQUESTS[needed](rng)
        blocked = related(needed) | {"web_search", "calculator"}
        offered = rng.sample(sorted(set(BY_NAME) - blocked), rng.randint(1, 3))
        direct = TOOLS[needed].direct
        reasoning = wording.no_fit(rng, req.goal, offered, described, by_hand=direct is not None)
        if direct is not None:
            value = BY_NAME[needed].fn(**req.args)
            content = direct(req.args, value)
        else:
            content = rng.choice(("Sorry, I can't {c} with the tools I have.",
                                  "I don't have a tool to {c}, so I can't help with that right now.",
                                  "Unfortunately I'm not able to {c} here.")).format(c=TOOLS[needed].capability)
        text, extra = req.text, {"needed": needed}
    elif roll < 0.55:  # general knowledge the model can answer itself
        text, content = rng.choice(GENERAL_QA)
        offered = rng.sample(sorted(set(BY_NAME) - {"web_search", "calculator", "lookup_word"}), rng.randint(1, 3))
        reasoning = wording.general_knowledge(rng, offered, described)
        extra = {"needed": None}
    elif roll < 0.65:  # small talk: no tool, whatever is offered
        text, content = rng.choice(SMALL_TALK)
        offered = rng.sample(sorted(BY_NAME), rng.randint(1, 3))
        reasoning = wording.small_talk(rng, offered, described)
        extra = {"needed": None}
    else:  # a problem to work out (as in BFCL's irrelevance set): an unrelated tool on offer, solved without it
        item = synthetic_reasoning.make_item(rng.choice(synthetic_reasoning.TASKS), rng)
        text, content = item["question"], item["content"]
        pool = _NUMERIC_TOOLS if rng.random() < 0.5 else sorted(set(BY_NAME) - {"calculator"})
        offered = rng.sample(pool, rng.randint(1, 2))  # half the time tools that also work with numbers
        reasoning = wording.own_problem(rng, item["task"], offered, described, item["reasoning"])
        extra = {"needed": None, "task": item["task"]}
    messages = [{"role": "user", "content": text}, {"role": "assistant", "content": content, "reasoning": reasoning}]
    return messages, offered, extra


_MATH_CALL_SHARE = 0.5  # of the problems that have a solver, the share offered it (the rest: near misses only)


def _capabilities(names: Sequence[str]) -> list[tuple[str, str]]:
    """(name, what it does) of each offered solver, for the reasoning's check before the decision."""
    return [(n, task_tools.CAPABILITY[n]) for n in names]


def _math(rng: random.Random) -> tuple[list, list[str], dict]:
    """A synthetic-reasoning problem with solvers on offer: its own solver called, or near misses and solved."""
    item = synthetic_reasoning.make_item(rng.choice(synthetic_reasoning.TASKS), rng)
    goal, own = task_tools.goal_and_call(item)
    others = sorted(set(task_tools.SOLVERS) - ({own[0]} if own else set()))
    if own is not None and rng.random() < _MATH_CALL_SHARE:
        name, args = own
        offered = [name, *rng.sample(others, rng.randint(0, 1))]
        rng.shuffle(offered)
        reasoning = wording.solver_call(rng, goal, _capabilities(offered), name, args)
        message = {"role": "assistant", "content": "", "reasoning": reasoning,
                   "tool_calls": [task_tools.checked_call(item, name, args)]}
        return [{"role": "user", "content": item["question"]}, message], offered, {"task": item["task"], "needed": name}
    offered = rng.sample(others, rng.randint(1, 2))
    reasoning = wording.solver_none(rng, goal, _capabilities(offered), item["reasoning"])
    messages = [{"role": "user", "content": item["question"]},
                {"role": "assistant", "content": item["content"], "reasoning": reasoning}]
    return messages, offered, {"task": item["task"], "needed": None}


_TABLE_CALL_SHARE = 0.5  # formula and lookup: the share of requests offered the function that answers them


def _with_neighbours(rng: random.Random, target: Any, near_misses: Callable[[Any, random.Random, int], list]
                     ) -> tuple[bool, list]:
    """Whether the target function is offered, and the offer (shuffled): the target with 0–1 neighbours, or 1–2
    neighbours alone."""
    call = rng.random() < _TABLE_CALL_SHARE
    offered = [target] if call else []
    offered += near_misses(target, rng, rng.choice((0, 0, 1) if call else (1, 1, 2)))
    rng.shuffle(offered)
    return call, offered


def _call_message(reasoning: str, name: str, args: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The assistant turn that ends the comparison with a call of `name`."""
    return {"role": "assistant", "content": "", "reasoning": f"{reasoning} {wording.call_decision(name, args)}",
            "tool_calls": [_call(name, args, schema)]}


def _formula(rng: random.Random) -> tuple[list, list[dict], dict]:
    """A quantity asked for with formula functions on offer: the right one called, or neighbours compared and
    the formula worked out. Call and no-call reasoning read the same up to the decision: what is asked, then what
    each offered function calculates (its description's words) and whether that is the same quantity."""
    formula = rng.choice(formula_tools.FORMULAS)
    problem = formula_tools.make_problem(formula, rng)
    call, offered = _with_neighbours(rng, formula, formula_tools.near_misses)
    names = [formula_tools.tool_name(f, rng) for f in offered]
    schemas = [formula_tools.schema(f, n) for f, n in zip(offered, names)]
    reasoning = wording.formula_comparison(rng, formula.quantity,
                                           [(n, f.quantity, f is formula) for f, n in zip(offered, names)])
    user = {"role": "user", "content": problem.text}
    if not call:
        reasoning += f" {wording.by_formula(problem.worked())}"
        message = {"role": "assistant", "content": problem.answer(), "reasoning": reasoning}
        return [user, message], schemas, {"needed": None, "formula": formula.key}
    right = offered.index(formula)
    message = _call_message(reasoning, names[right], problem.args, schemas[right])
    return [user, message], schemas, {"needed": names[right], "formula": formula.key}


_LOOKUP_DECLINES = ("Sorry, I can't look up {a} with the tools I have.",
                    "None of my tools gets {a}, so I can't look that up right now.",
                    "I don't have a tool for {a}; the ones I have get other information.")


def _lookup(rng: random.Random) -> tuple[list, list[dict], dict]:
    """A fact asked for (the diet of the lion) with lookup functions on offer: the one that gets it called, or only
    neighbours (the habitat of an animal, the population of a city) compared and the request declined. Reads like the
    formula kind: what is asked, then what each offered function gets (its description's words) and whether that is
    the same information."""
    fact = rng.choice(lookup_tools.FACTS)
    req = lookup_tools.make_request(fact, rng)
    call, offered = _with_neighbours(rng, fact, lookup_tools.near_misses)
    names = [lookup_tools.tool_name(f, rng) for f in offered]
    schemas = [lookup_tools.schema(f, n, rng) for f, n in zip(offered, names)]
    reasoning = wording.lookup_comparison(rng, req.asked, [(n, f.thing, f is fact) for f, n in zip(offered, names)])
    user = {"role": "user", "content": req.text}
    key = f"{fact.subject.key}/{fact.key}"  # "animal/diet"
    if not call:
        reasoning += f" {wording.NO_TOOL_FITS}"
        content = rng.choice(_LOOKUP_DECLINES).format(a=req.asked)
        message = {"role": "assistant", "content": content, "reasoning": reasoning}
        return [user, message], schemas, {"needed": None, "fact": key}
    right = offered.index(fact)
    message = _call_message(reasoning, names[right], req.args, schemas[right])
    return [user, message], schemas, {"needed": names[right], "fact": key}


_BUILDERS: dict[str, Callable[..., tuple[list, list[str] | list[dict], dict]]] = {
    "single": lambda rng: _single(rng, multiple=False),
    "multiple": lambda rng: _single(rng, multiple=True),
    "parallel": _parallel,
    "multi_step": _multi_step,
    "irrelevance": _irrelevance,
    "answer_from_result": _answer_from_result,
    "math": _math,
    "formula": _formula,
    "lookup": _lookup,
    "generated": function_space.make_item,  # the procedurally varied function space (takes the recipe's knobs)
    "search": search_docs.make_item,  # local_search / web_search over generated documents, answered from passages
    "no_search_tool": search_docs.make_unoffered_item,  # the same questions, no search tool offered: no call
}


def make_item(kind: str, rng: random.Random, *, weights: Sequence[float] = function_space.DECISION_WEIGHTS,
              result_share: float = function_space.RESULT_SHARE) -> dict[str, Any]:
    """One conversation of a kind: {"messages", "tools", "kind", **extra} (e.g. "needed" for irrelevance).
    `weights` (of function_space.DECISIONS) and `result_share` shape the generated kind only."""
    if kind not in _BUILDERS:
        raise SourceError(f"synthetic-tools: unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    knobs = {"weights": weights, "result_share": result_share} if kind == "generated" else {}
    messages, offered, extra = _BUILDERS[kind](rng, **knobs)
    return {"messages": messages, "tools": _offer(rng, offered), "kind": kind, **extra}


def generate(n: int, *, seed: int, name: str = "synthetic-tools", kinds: Sequence[str] | None = None,
             decisions: Mapping[str, float] | None = None, result_share: float | None = None) -> Iterator[Example]:
    """n conversations, kinds round-robin; item i is built from Random(f"{seed}:{i}") alone. `decisions` (weights of
    one / several / none) and `result_share` are the generated kind's recipe knobs; None keeps function_space's."""
    weights = function_space.decision_weights(decisions)
    result_share = function_space.RESULT_SHARE if result_share is None else result_share
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if isinstance(kinds, str):
        raise SourceError(f"synthetic-tools: kinds must be a list of kind names, not the string {kinds!r}")
    chosen = list(SUPPORTED_KINDS) if kinds is None else list(kinds)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise SourceError(f"synthetic-tools: unknown kind {unknown[0] if unknown else '(empty list)'!r}; "
                          f"valid kinds: {', '.join(KINDS)}")
    for i in range(n):
        kind = chosen[i % len(chosen)]
        item = make_item(kind, random.Random(f"{seed}:{i}"), weights=weights, result_share=result_share)
        metadata = {"kind": kind, "seed": seed, "index": i}
        if "needed" in item:
            metadata["needed"] = item["needed"]
        for key in ("chain", "task", "formula", "fact", "decision", "answerable", "tool"):
            if key in item:
                metadata[key] = item[key]
        yield Example(source=name, row_id=f"{seed}:{i}", messages=item["messages"], tools=item["tools"],
                      metadata=metadata)
