"""The one place the generated reasoning is worded: every sentence the tool-calling generators write inside <think>.

`synthetic_tools` (the catalog kinds, math, formula, lookup), `function_space` (the generated kind) and `search_docs`
(search, no_search_tool) decide what is true of an item (which offered tool fits, what a result says); this module
says it. The reasoning reads the same way across them: what is asked, then each offered tool in its description's own
words with a verdict ("get_weather can get the current weather in a city: that fits."), then the decision ("So I'll
call get_weather with city=\"Paris\"." / "No tool fits, so I won't call any."). After a result it says where the
answer comes from. Functions that take `rng` draw from it in the order the generators always have, so the same seed
gives the same data. Replies (answers, refusals) are not reasoning and stay with their generators.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from smolthink.data.sources.synthetic_reasoning import join_words

if TYPE_CHECKING:
    from smolthink.data.sources.function_space import Domain, Function

# ------------------------------------------------------------------------------------------------ shared sentences

NO_TOOL_FITS = "No tool fits, so I won't call any."
NO_FUNCTION_FITS = "No function fits, so I won't call any."  # the generated kind says "function" throughout


def asked(rng: random.Random, goal: str) -> str:
    """'The user wants to {goal}.' or 'I need to {goal}.': what is asked, first."""
    return f"{rng.choice(('The user wants to', 'I need to'))} {goal}."


def described(description: str, *, drop_asides: bool = False) -> str:
    """'get the current weather in a city': what a tool does in its description's own words (the first sentence,
    lower-cased), so the reasoning copies what the model reads in the tools list rather than restating the request.
    `drop_asides` leaves out parentheses ("local documents (private notes …)": the gist only)."""
    first = description.split("\n")[0].split(". ")[0].removesuffix(".")
    if drop_asides:
        first = re.sub(r" \([^)]*\)", "", first)
    return first[0].lower() + first[1:]


def verdict(name: str, does: str, fits: bool) -> str:
    """'get_weather can get the current weather in a city: that fits.' (or '…: that does not fit.')."""
    return f"{name} can {does}: {'that fits' if fits else 'that does not fit'}."


def arg_text(args: dict[str, Any]) -> str:
    """'city="Paris", unit="celsius"': a call's arguments as the reasoning states them."""
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())


def call_decision(name: str, args: dict[str, Any]) -> str:
    return f"So I'll call {name} with {arg_text(args)}."


def several_calls(names: Sequence[str]) -> str:
    return f"So I'll call {join_words(names)} at once."


def repeated_call(name: str, per_call: str, times: int) -> str:
    """'get_weather takes one value per call, so I'll call it 3 times at once.'"""
    return f"{name} takes one {per_call} per call, so I'll call it {times} times at once."


# ---------------------------------------------------------------------------------- catalog kinds (synthetic_tools)


def catalog_verdicts(rng: random.Random, offered: Sequence[str], fitting: Collection[str],
                     does: Callable[[str], str]) -> str:
    """Each offered tool (once, in a shuffled order) with what it does (`does(name)`) and whether that is what is
    asked. Every catalog kind, call or no call, reasons this way before it decides (as the formula and lookup kinds
    do), so the decision follows a comparison."""
    order = list(dict.fromkeys(offered))
    rng.shuffle(order)
    return " ".join(verdict(n, does(n), n in fitting) for n in order)


def comparison(rng: random.Random, goal: str, offered: Sequence[str], fitting: Collection[str],
               does: Callable[[str], str]) -> str:
    """What is asked, then each offered tool's verdict: call and no-call reasoning read alike up to the decision."""
    return f"{asked(rng, goal)} {catalog_verdicts(rng, offered, fitting, does)}"


def call_reasoning(rng: random.Random, goal: str, name: str, others: Sequence[str], args: dict[str, Any],
                   does: Callable[[str], str]) -> str:
    """Before one call of `name` (offered with `others`): the comparison, then the call."""
    return f"{comparison(rng, goal, [name, *others], [name], does)} {call_decision(name, args)}"


def no_fit(rng: random.Random, goal: str, offered: Sequence[str], does: Callable[[str], str], *,
           by_hand: bool) -> str:
    """A request no offered tool serves; `by_hand`: the model works the answer out itself."""
    reasoning = f"{comparison(rng, goal, offered, (), does)} {NO_TOOL_FITS}"
    return reasoning + " I can work this out myself." if by_hand else reasoning


def general_knowledge(rng: random.Random, offered: Sequence[str], does: Callable[[str], str]) -> str:
    return f"A general knowledge question. {catalog_verdicts(rng, offered, (), does)} No tool fits; I know the answer."


def small_talk(rng: random.Random, offered: Sequence[str], does: Callable[[str], str]) -> str:
    return f"This is small talk. {catalog_verdicts(rng, offered, (), does)} No tool fits; I'll just reply."


def own_problem(rng: random.Random, task: str, offered: Sequence[str], does: Callable[[str], str],
                worked: str) -> str:
    """A synthetic-reasoning problem (`task`: its key, "word_problem") with only unrelated tools on offer, then the
    problem's own worked reasoning."""
    what = task.replace("_", " ").removesuffix(" problem")  # "word_problem": "a word problem"
    return (f"The user wants to solve a {what} problem. {catalog_verdicts(rng, offered, (), does)} No tool fits, "
            f"so I'll work it out myself. {worked}")


def parallel_same(rng: random.Random, items: Sequence[str], name: str, others: Sequence[str],
                  does: Callable[[str], str]) -> str:
    """One tool asked for several values at once (`items`: what each call is for)."""
    k = len(items)
    return (f"The user asks about {k} items: {join_words(items)}. "
            f"{catalog_verdicts(rng, [name, *others], [name], does)} {repeated_call(name, 'value', k)}")


def parallel_different(rng: random.Random, goals: Sequence[str], names: Sequence[str], others: Sequence[str],
                       does: Callable[[str], str]) -> str:
    """Several requests, each for another tool, called in one turn."""
    return (f"The user wants to {join_words(goals)}. {catalog_verdicts(rng, [*names, *others], names, does)} "
            f"{several_calls(names)}")


def after_result(rng: random.Random, name: str) -> str:
    """After a tool result that answers the request."""
    return rng.choice(("{n} returned what I need, so I can answer now.", "I have the result from {n}; I'll report it.",
                       "The {n} result answers the request. Summarize it for the user.")).format(n=name)


# The multi_step chains: the reasoning before each of the two calls, filled with the request's and the first
# result's values.
MULTI_STEP = {
    "stock_currency": ("First I need the price of {symbol} with get_stock_price; then I can convert it.",
                       "{symbol} costs {price} USD. Now convert that amount to {currency}."),
    "contact_email": ("I don't have {person}'s email address, so I'll look it up with find_contact first.",
                      "{person}'s email is {email}. Now I can send the email."),
    "restaurant_booking": ("I need to find {cuisine} restaurants in {city} before I can book one.",
                           "The best rated is {restaurant} ({rating}). I'll book it for {people} on {date} at {time}."),
    "flight_booking": ("I'll search flights from {origin} to {destination} on {date} first.",
                       "The cheapest is {flight} at ${price}. Booking it now."),
    "distance_time": ("I need the distance from {origin} to {destination} in km first.",
                      "It's {distance} km. Time = distance / speed, so I'll compute {distance} / {speed}."),
}


def multi_step(chain: str, step: int, **values: Any) -> str:
    """The reasoning before call `step` (0 or 1) of a multi_step chain."""
    return MULTI_STEP[chain][step].format(**values)


def multi_step_done(rng: random.Random) -> str:
    return rng.choice(("Both steps are done; I'll tell the user.", "I have everything I need now.",
                       "That completes the request."))


# ------------------------------------------------------------------------------- math, formula and lookup kinds


def solver_check(capabilities: Sequence[tuple[str, str]]) -> str:
    """'gcd can compute …; lcm can compute ….': what each offered solver (name, capability) does."""
    return "; ".join(f"{n} can {c}" for n, c in capabilities) + "."


def solver_call(rng: random.Random, goal: str, capabilities: Sequence[tuple[str, str]], name: str,
                args: dict[str, Any]) -> str:
    return rng.choice((
        "The user wants to {g}. {t} {n} matches the request, so I'll call it with {a}.",
        "I need to {g}. {t} {n} matches the request. Arguments: {a}.",
    )).format(g=goal, t=solver_check(capabilities), n=name, a=arg_text(args))


def solver_none(rng: random.Random, goal: str, capabilities: Sequence[tuple[str, str]], worked: str) -> str:
    """No offered solver does the asked operation: the problem worked out (`worked`: its own reasoning)."""
    return rng.choice((
        "The user wants to {g}. {t} No tool matches the request, so I'll work it out myself. ",
        "I need to {g}. {t} No tool matches the request; I'll solve it step by step. ",
    )).format(g=goal, t=solver_check(capabilities)) + worked


def formula_comparison(rng: random.Random, quantity: str, offered: Sequence[tuple[str, str, bool]]) -> str:
    """What quantity is asked, then what each offered function (name, quantity, same) calculates and whether it is
    the same quantity."""
    return rng.choice(("The user wants {q}.", "I need {q}.")).format(q=quantity) + "".join(
        f" {n} calculates {q}: {'the same quantity' if same else 'a different quantity'}." for n, q, same in offered)


def by_formula(worked: str) -> str:
    """No formula function fits: the formula worked out (`worked`: "V = π·r²·h/3 = …")."""
    return f"No tool fits, so I'll work it out myself: {worked}."


def lookup_comparison(rng: random.Random, asked_for: str, offered: Sequence[tuple[str, str, bool]]) -> str:
    """What fact is asked, then what each offered function (name, thing, same) gets and whether it is the same
    information."""
    return rng.choice(("The user wants {a}.", "I need {a}.")).format(a=asked_for) + "".join(
        f" {n} gets {thing}: {'the same information' if same else 'different information'}."
        for n, thing, same in offered)


# ------------------------------------------------------------------------------ generated kind (function_space)


def function_verdicts(rng: random.Random, offered: Sequence[Function], fitting: Collection[Function],
                      dom: Domain) -> str:
    """Each offered function in a shuffled order: a fitting one or a near miss of the request's domain in its
    description's words with its verdict, one of another domain in a word ("… is about the garden: no.")."""
    order = list(offered)
    rng.shuffle(order)
    return " ".join(verdict(f.name, f.described, f in fitting) if f in fitting or f.domain is dom
                    else f"{f.name} is about {f.domain.label}: no." for f in order)


def function_comparison(rng: random.Random, goal: str, offered: Sequence[Function], fitting: Collection[Function],
                        dom: Domain) -> str:
    return f"{asked(rng, goal)} {function_verdicts(rng, offered, fitting, dom)}"


def after_results(rng: random.Random) -> str:
    """After the results of one or more calls that answer the request."""
    return rng.choice(("The results answer the request; I'll report them.",
                       "I have what I need from the results, so I can answer now."))


# -------------------------------------------------------------------------------------------- search (search_docs)


def search_plan(attribute: str, entity: str, about: str, *, web: bool) -> str:
    """Before the search: the asked fact is not one the model knows, and where it may be found."""
    where = "the web" if web else "the user's local documents"
    return (f"The user asks for the {attribute} of {entity}, {about}. "
            f"That is a specific fact I don't know; {where} may hold it, so I'll search with the key words.")


def found_in_result(rng: random.Random, n: int, source: str, attribute: str, entity: str, value: str) -> str:
    """Result [n] (from `source`) states the asked value."""
    return (f"Result [{n}] ({source}) gives the {attribute} of {entity}: {value}. "
            f"{rng.choice(('That answers the question.', 'I can answer from it.'))}")


def not_in_results(about: Sequence[str], attribute: str, entity: str) -> str:
    """No result states the asked value (`about`: the other entities the results are about)."""
    found = f"They are about {join_words(about)}" if about else "They do not mention it"
    return f"{found}; none of them gives the {attribute} of {entity}. I won't guess a value that is not in them."


def unfit_verdicts(offered: Sequence[dict[str, Any]]) -> str:
    """Each offered tool schema, in the order offered, with its description's gist and that it does not fit (the
    catalog kinds' irrelevance items reason the same way): the refusal follows from what the tools list says."""
    return " ".join(verdict(t["function"]["name"], described(t["function"]["description"], drop_asides=True), False)
                    for t in offered)


def no_search_tool(attribute: str, entity: str, about: str, offered: Sequence[dict[str, Any]]) -> str:
    """A fact to look up with no search tool among `offered`: the tools compared, then no call and no guess."""
    return (f"The user asks for the {attribute} of {entity}, {about}. "
            f"That is a specific fact I don't know. {unfit_verdicts(offered)} No tool searches documents or "
            "the web, so I can't look it up, and I won't guess a value.")
