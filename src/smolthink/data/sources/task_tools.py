"""Solver tools for the synthetic-reasoning tasks, offered by the `math` kind of synthetic-tools.

BFCL's simple_python and irrelevance sets are mostly math problems offered one function: call it when it does
the asked operation (a triangle's area with `calculate_triangle_area`), answer yourself when it does not (a
triangle's area with `determine_body_mass_index`). The catalog tools (weather, flights, …) teach neither side of
that line, so this module gives the synthetic-reasoning tasks typed solver functions, and synthetic-tools builds
both sides from the same problems:

    call     the problem's own solver is offered (sometimes with another solver): one call with the problem's
             numbers, after reasoning that says what each offered tool does
    no call  only other tasks' solvers are offered (near misses such as `gcd` for an LCM question): the same
             comparison, "No tool matches the request", then the problem worked out step by step

Every call is checked against its schema and run: a solver whose result is not the problem's answer (scored with
`synthetic_reasoning.check_answer`) is a generator bug and raises.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from smolthink.data.sources import synthetic_reasoning
from smolthink.tools import Tool, tool, validate_arguments


def multiply(a: int, b: int):
    """Multiply two integers.

    Args:
        a: The first factor.
        b: The second factor.
    """
    return a * b


def convert_units(value: float, from_unit: str, to_unit: str):
    """Convert a length, mass, volume or time between units, for example meters to millimeters.

    Args:
        value: The amount to convert.
        from_unit: The unit of the amount, plural, for example "meters".
        to_unit: The unit to convert to, plural, for example "millimeters".
    """
    for (big, small), factor in synthetic_reasoning.UNITS.items():
        if (from_unit, to_unit) == (big, small):
            return value * factor
        if (from_unit, to_unit) == (small, big):
            return value / factor
    return {"error": f"cannot convert {from_unit} to {to_unit}"}


def convert_base(number: str, from_base: int, to_base: int):
    """Write a whole number in another base (2, 10 or 16).

    Args:
        number: The number's digits in its current base, for example "1011" or "FF".
        from_base: The base the number is written in.
        to_base: The base to write it in.
    """
    n = int(number, from_base)
    return {2: format(n, "b"), 10: str(n), 16: format(n, "X")}[to_base]


def days_between(start_date: str, end_date: str):
    """Count the days from one date to another.

    Args:
        start_date: The first date, as YYYY-MM-DD.
        end_date: The second date, as YYYY-MM-DD.
    """
    return (dt.date.fromisoformat(end_date) - dt.date.fromisoformat(start_date)).days


def sort_numbers(numbers: list[int], descending: bool = False):
    """Sort a list of numbers.

    Args:
        numbers: The numbers to sort.
        descending: Largest first instead of smallest first.
    """
    return sorted(numbers, reverse=descending)


def sort_words(words: list[str], descending: bool = False):
    """Sort a list of words alphabetically.

    Args:
        words: The words to sort.
        descending: Reverse alphabetical order instead.
    """
    return sorted(words, reverse=descending)


def percent_of(percent: float, value: float):
    """Calculate a percentage of a number, for example 15% of 80.

    Args:
        percent: The percentage, for example 15 for 15%.
        value: The number to take the percentage of.
    """
    return percent * value / 100


def apply_discount(price: float, percent_off: float):
    """Calculate a sale price after a percentage discount.

    Args:
        price: The price before the discount.
        percent_off: The discount in percent, for example 20 for 20% off.
    """
    return price - price * percent_off / 100


def count_letter(text: str, letter: str):
    """Count how many times a letter appears in a text.

    Args:
        text: The text to search.
        letter: The letter to count.
    """
    return text.count(letter)


def reverse_word(word: str):
    """Spell a word backward.

    Args:
        word: The word to reverse.
    """
    return word[::-1]


def gcd(a: int, b: int):
    """Compute the greatest common divisor of two integers.

    Args:
        a: The first integer.
        b: The second integer.
    """
    return math.gcd(a, b)


def lcm(a: int, b: int):
    """Compute the least common multiple of two integers.

    Args:
        a: The first integer.
        b: The second integer.
    """
    return math.lcm(a, b)


def solve_linear_equation(a: float, b: float, c: float):
    """Solve the linear equation a*x + b = c for x.

    Args:
        a: The coefficient of x.
        b: The constant on the left side.
        c: The right side.
    """
    return (c - b) / a


_FUNCTIONS = (multiply, convert_units, convert_base, days_between, sort_numbers, sort_words, percent_of,
              apply_discount, count_letter, reverse_word, gcd, lcm, solve_linear_equation)
SOLVERS: dict[str, Tool] = {t.name: t for t in (tool(fn) for fn in _FUNCTIONS)}

# What each solver can do, in the words the reasoning uses ("gcd can compute the greatest common divisor …").
CAPABILITY = {
    "multiply": "multiply two integers",
    "convert_units": "convert lengths, masses, volumes and times between units",
    "convert_base": "write numbers in another base",
    "days_between": "count the days between two dates",
    "sort_numbers": "sort a list of numbers",
    "sort_words": "sort words alphabetically",
    "percent_of": "calculate a percentage of a number",
    "apply_discount": "calculate a price after a discount",
    "count_letter": "count a letter in a text",
    "reverse_word": "spell a word backward",
    "gcd": "compute the greatest common divisor of two integers",
    "lcm": "compute the least common multiple of two integers",
    "solve_linear_equation": "solve linear equations a*x + b = c",
}

_BASES = {"bin": 2, "dec": 10, "hex": 16}
_BASE_NAMES = {2: "binary", 10: "decimal", 16: "hexadecimal"}


def goal_and_call(item: dict[str, Any]) -> tuple[str, tuple[str, dict[str, Any]] | None]:
    """What the user wants ("find the LCM of 12 and 18") and the solver call that answers it, if one does."""
    task, p = item["task"], item["params"]
    if task == "multiplication":
        return f"multiply {p['a']} by {p['b']}", ("multiply", {"a": p["a"], "b": p["b"]})
    if task == "unit_conversion":
        value = float(p["value"]) if "." in p["value"] else int(p["value"])
        return (f"convert {p['value']} {p['from']} to {p['to']}",
                ("convert_units", {"value": value, "from_unit": p["from"], "to_unit": p["to"]}))
    if task == "base_conversion":
        src, dst = (_BASES[b] for b in p["direction"].split("2"))
        return (f"write {p['value']} ({_BASE_NAMES[src]}) in {_BASE_NAMES[dst]}",
                ("convert_base", {"number": str(p["value"]), "from_base": src, "to_base": dst}))
    if task == "date_difference":
        return (f"count the days between {p['start']} and {p['end']}",
                ("days_between", {"start_date": p["start"], "end_date": p["end"]}))
    if task == "sorting":
        words = isinstance(p["items"][0], str)
        name, key = ("sort_words", "words") if words else ("sort_numbers", "numbers")
        return (f"sort a list of {key}", (name, {key: p["items"], "descending": p["descending"]}))
    if task == "percent":
        if p["kind"] == "part":
            return (f"find {p['percent']}% of {p['base']}",
                    ("percent_of", {"percent": p["percent"], "value": p["base"]}))
        if p["kind"] == "discount":
            return (f"find a price after a {p['percent']}% discount",
                    ("apply_discount", {"price": p["base"], "percent_off": p["percent"]}))
        return f"find a value after a {p['percent']}% increase", None
    if task == "letter_count":
        return (f"count the letter \"{p['letter']}\" in a text",
                ("count_letter", {"text": p["text"], "letter": p["letter"]}))
    if task == "reverse":
        if p["kind"] == "word":
            return f"spell {p['word']} backward", ("reverse_word", {"word": p["word"]})
        return "reverse the order of a list of words", None
    if task == "gcd_lcm":
        a, b = p["numbers"]
        label = "greatest common divisor" if p["kind"] == "gcd" else "least common multiple"
        return f"find the {label} of {a} and {b}", (p["kind"], {"a": a, "b": b})
    if task == "linear_equation":
        return (f"solve {p['equation']} for {p['variable']}",
                ("solve_linear_equation", {"a": p["a"], "b": p["b"], "c": p["c"]}))
    if task == "arithmetic":
        return f"compute {p['expression']}", None
    if task == "word_problem":
        return "solve a word problem", None
    if task == "comparison_logic":
        return "solve a logic puzzle", None
    raise ValueError(f"task-tools: no goal written for the synthetic-reasoning task {task!r}")


def checked_call(item: dict[str, Any], name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The call, after checking its arguments against the schema and its result against the item's answer."""
    problem = validate_arguments(SOLVERS[name].schema, args)
    if problem is not None:
        raise ValueError(f"task-tools: invalid arguments for {name}: {problem} ({args!r})")
    result = SOLVERS[name].fn(**args)
    shown = ", ".join(map(str, result)) if isinstance(result, list) else synthetic_reasoning.format_number(result)
    if not synthetic_reasoning.check_answer(item, shown):
        raise ValueError(f"task-tools: {name}({args!r}) = {shown!r}, but the {item['task']} answer is "
                         f"{item['answer']!r}")
    return {"type": "function", "function": {"name": name, "arguments": args}}
