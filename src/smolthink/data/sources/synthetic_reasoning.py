"""Procedural reasoning problems with short, correct, step-by-step thinking: the core of the offline recipe.

Every item is built from a `random.Random` seeded by `f"{seed}:{index}"`, so item i depends only on (seed, i) and
held-out seeds never share an item with training seeds. Each task
- states its question in several phrasings (sometimes with "give only the final answer", which gets a bare answer),
- writes reasoning that computes the answer with every intermediate value shown (20–100 words, never just the result),
- ends with a short answer sentence whose last number / word / list is the answer, which `check_answer` reads back,
- keeps its structured inputs in `params`, so tests can recompute the answer without this module's solving code.

`check_answer` is the grader the eval stage uses: numbers compare numerically (commas, units, trailing periods and
surrounding words ignored), lists item by item in order, words and codes case-insensitively.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Any

from smolthink.data.example import Example, SourceError

# The one-line instruction that asks for a bare answer after the thinking (gym prompts end with the same line).
FINAL_ANSWER_INSTRUCTION = "Think step by step, then give only the final answer."
_BARE_INSTRUCTIONS = (FINAL_ANSWER_INSTRUCTION, "Give only the final answer.", "Reply with just the answer.")
_GENERIC_ANSWERS = ("The answer is {a}.", "So the answer is {a}.", "Answer: {a}", "The final answer is {a}.")

NAMES = ("Ann", "Ben", "Cara", "Dan", "Eva", "Finn", "Gina", "Hugo", "Ivy", "Jack", "Kate", "Liam", "Mia", "Noah",
         "Olga", "Paul", "Rosa", "Sam", "Tara", "Omar", "Lena", "Yuki", "Ravi", "Zoe", "Nina", "Leo")
WORDS = tuple(dict.fromkeys((
    "apple", "river", "stone", "cloud", "garden", "window", "candle", "forest", "yellow", "planet", "bottle", "castle",
    "dragon", "orange", "pencil", "silver", "winter", "summer", "rabbit", "tiger", "button", "mirror", "basket",
    "hammer", "ladder", "island", "jacket", "kettle", "lemon", "magnet", "needle", "ocean", "pepper", "quiet", "rocket",
    "saddle", "tunnel", "violet", "wagon", "zebra", "anchor", "banana", "cherry", "desert", "engine", "feather",
    "guitar", "harbor", "igloo", "jungle", "koala", "lizard", "meadow", "nickel", "orbit", "parrot", "quilt", "raven",
    "sunset", "tomato", "umbrella", "valley", "walnut", "yogurt", "acorn", "bridge", "coffee", "dance", "eagle",
    "flower", "grape", "honey", "iron", "jelly", "kite", "lamp", "music", "night", "olive", "piano", "queen", "robot",
    "sugar", "table", "uncle", "vase", "water", "yarn", "zipper", "bread", "chair", "dream", "earth", "field", "glass",
    "house", "light", "money", "paper", "green", "happy", "little", "book", "tree", "road", "fish", "milk", "snow",
    "actor", "amber", "arrow", "autumn", "badge", "balloon", "beach", "blanket", "bloom", "brush", "cabin", "camera",
    "canvas", "carpet", "circle", "clock", "copper", "cotton", "crayon", "crown", "dinner", "doctor", "donkey",
    "eleven", "empty", "fabric", "falcon", "fence", "finger", "flame", "frozen", "gentle", "giant", "ginger",
    "globe", "gravel", "helmet", "hollow", "hunter", "insect", "jewel", "journey", "kitten", "knight", "lantern",
    "lesson", "marble", "market", "melon", "metal", "mitten", "monkey", "napkin", "noodle", "number", "oyster",
    "paddle", "palace", "peanut", "pillow", "pirate", "pocket", "puzzle", "rhythm", "ribbon", "saddle", "salmon",
    "shadow", "shovel", "signal", "sister", "spider", "spoon", "square", "stream", "string", "tablet", "teapot",
    "thunder", "ticket", "timber", "towel", "tower", "turtle", "velvet", "voyage", "waffle", "wallet", "whale",
    "wheat", "wizard", "woman", "pumpkin", "zigzag", "bucket", "cactus", "dolphin", "farmer", "goblin", "bamboo",
    "rain", "star", "moon", "door", "ship", "train", "horse", "mouse", "cat", "dog", "sun", "hat", "cup", "box", "pen",
)))

# Facts, not solving code: the tests keep their own copies of these tables.
LEGS = {"snake": 0, "fish": 0, "jellyfish": 0, "chicken": 2, "duck": 2, "bird": 2, "ostrich": 2, "human": 2, "dog": 4,
        "cat": 4, "cow": 4, "horse": 4, "sheep": 4, "goat": 4, "pig": 4, "lion": 4, "tiger": 4, "elephant": 4,
        "giraffe": 4, "deer": 4, "starfish": 5, "ant": 6, "bee": 6, "beetle": 6, "butterfly": 6, "wasp": 6,
        "cricket": 6, "spider": 8, "scorpion": 8, "octopus": 8, "crab": 10, "lobster": 10, "woodlouse": 14}
_PLURAL = {"fish": "fish", "sheep": "sheep", "deer": "deer", "starfish": "starfish", "jellyfish": "jellyfish",
           "butterfly": "butterflies", "ostrich": "ostriches", "octopus": "octopuses", "woodlouse": "woodlice"}
COINS = {"penny": 1, "nickel": 5, "dime": 10, "quarter": 25}
_COIN_PLURAL = {"penny": "pennies", "nickel": "nickels", "dime": "dimes", "quarter": "quarters"}
UNITS = {  # (big unit, small unit): how many small units make one big unit
    ("kilometers", "meters"): 1000, ("meters", "centimeters"): 100, ("meters", "millimeters"): 1000,
    ("centimeters", "millimeters"): 10, ("kilograms", "grams"): 1000, ("hours", "minutes"): 60,
    ("minutes", "seconds"): 60, ("liters", "milliliters"): 1000, ("days", "hours"): 24, ("weeks", "days"): 7,
    ("feet", "inches"): 12, ("yards", "feet"): 3, ("pounds", "ounces"): 16, ("gallons", "quarts"): 4,
    ("years", "months"): 12,
}
_SINGULAR = {"kilometers": "kilometer", "meters": "meter", "centimeters": "centimeter", "millimeters": "millimeter",
             "kilograms": "kilogram", "grams": "gram", "hours": "hour", "minutes": "minute", "seconds": "second",
             "liters": "liter", "milliliters": "milliliter", "days": "day", "weeks": "week", "feet": "foot",
             "inches": "inch", "yards": "yard", "pounds": "pound", "ounces": "ounce", "gallons": "gallon",
             "quarts": "quart", "years": "year", "months": "month"}
RELATIONS = (  # (more, less, most, least)
    ("taller", "shorter", "tallest", "shortest"), ("older", "younger", "oldest", "youngest"),
    ("faster", "slower", "fastest", "slowest"), ("heavier", "lighter", "heaviest", "lightest"),
    ("stronger", "weaker", "strongest", "weakest"),
)
MONTHS = tuple(calendar.month_name)[1:]


def format_number(x: int | float | Fraction) -> str:
    """A number as people write it: 3, 2.5, -0.25 (never 3.0)."""
    if isinstance(x, Fraction):
        if x.denominator == 1:
            return str(x.numerator)
        x = float(x)
    if isinstance(x, float):
        if x.is_integer():
            return str(int(x))
        return f"{x:.4f}".rstrip("0").rstrip(".")
    return str(x)


def _pick(rng: random.Random, options: Sequence[str], **values: Any) -> str:
    return rng.choice(options).format(**values)


def _item(question: str, reasoning: str, answer: Any, answer_type: str, params: dict[str, Any],
          specific: Sequence[str] = (), **values: Any) -> dict[str, Any]:
    """Assemble an item; the answer sentence is chosen later (it may need a bare answer)."""
    return {"question": question, "reasoning": reasoning,
            "answer": answer if isinstance(answer, str) else format_number(answer),
            "answer_type": answer_type, "params": params, "_specific": list(specific), "_values": values}


# ---------------------------------------------------------------------------------------------------- arithmetic

_PREC = {"+": 1, "-": 1, "*": 2}
_Tree = Any  # int | tuple[str, _Tree, _Tree]


def _random_tree(rng: random.Random, leaves: int, negative: bool) -> _Tree:
    if leaves == 1:
        value = rng.randint(1, 20)
        return -value if negative and rng.random() < 0.15 else value
    left = rng.randint(1, leaves - 1)
    return (rng.choice("+-*"), _random_tree(rng, left, negative), _random_tree(rng, leaves - left, negative))


def _value(tree: _Tree) -> int:
    if isinstance(tree, int):
        return tree
    op, left, right = tree
    a, b = _value(left), _value(right)
    return a + b if op == "+" else a - b if op == "-" else a * b


def _nodes(tree: _Tree) -> Iterator[_Tree]:
    if not isinstance(tree, int):
        yield tree
        yield from _nodes(tree[1])
        yield from _nodes(tree[2])


def _render(tree: _Tree) -> str:
    if isinstance(tree, int):
        return str(tree)
    op, left, right = tree
    # a right operand of equal precedence gets explicit parentheses so the reading order is the solving order
    wrap_left = not isinstance(left, int) and _PREC[left[0]] < _PREC[op]
    wrap_right = not isinstance(right, int) and _PREC[right[0]] <= _PREC[op]
    ls, rs = _render(left), _render(right)
    return f"{'(' + ls + ')' if wrap_left else ls} {op} {'(' + rs + ')' if wrap_right else rs}"


def _ready(tree: _Tree, parent_op: str | None = None, is_right: bool = False, path: tuple = ()) -> Iterator[tuple]:
    """Nodes whose operands are both numbers, left to right: (path, in_parentheses)."""
    if isinstance(tree, int):
        return
    op, left, right = tree
    if isinstance(left, int) and isinstance(right, int):
        wrapped = parent_op is not None and (
            _PREC[op] < _PREC[parent_op] or (is_right and _PREC[op] == _PREC[parent_op]))
        yield path, wrapped
        return
    yield from _ready(left, op, False, (*path, 1))
    yield from _ready(right, op, True, (*path, 2))


def _at(tree: _Tree, path: tuple) -> _Tree:
    for k in path:
        tree = tree[k]
    return tree


def _replace(tree: _Tree, path: tuple, value: int) -> _Tree:
    if not path:
        return value
    parts = list(tree)
    parts[path[0]] = _replace(tree[path[0]], path[1:], value)
    return tuple(parts)


def _reduce_once(tree: _Tree) -> tuple[_Tree, tuple]:
    """Evaluate one ready node as a person would: parentheses first, then *, then left to right."""
    ready = list(_ready(tree))
    path, in_parens = min(ready, key=lambda c: (not c[1], _at(tree, c[0])[0] != "*", ready.index(c)))
    op, a, b = _at(tree, path)
    r = _value((op, a, b))
    return _replace(tree, path, r), (a, op, b, r, in_parens)


def _is_last(tree: _Tree) -> bool:
    return isinstance(tree, int)


def _arithmetic(rng: random.Random) -> dict[str, Any]:
    negative = rng.random() < 0.3
    need_product = rng.random() < 0.8
    while True:
        tree = _random_tree(rng, rng.choice((3, 3, 4)), negative)
        values = [_value(n) for n in _nodes(tree)]
        products_ok = all(abs(_value(n[1])) <= 15 or abs(_value(n[2])) <= 15 for n in _nodes(tree) if n[0] == "*")
        has_product = any(n[0] == "*" for n in _nodes(tree))
        if has_product == need_product and products_ok and max(abs(v) for v in values) <= 300:
            break
    expression = _render(tree)
    lines = [_pick(rng, ("Let me follow the order of operations.", "I'll work it out step by step.",
                          "Order of operations: parentheses, then *, then + and - from left to right.", ""))]
    current = tree
    first = True
    while not isinstance(current, int):
        current, (a, op, b, r, in_parens) = _reduce_once(current)
        mixed = op == "*" and any(n[0] in "+-" for n in _nodes(current)) if not isinstance(current, int) else False
        if in_parens:
            lead = _pick(rng, ("Parentheses first: ", "Inside the parentheses: ", "Start with the brackets: "))
        elif mixed:
            lead = _pick(rng, ("Multiplication comes first: ", "Multiply first: "))
        elif first:
            lead = _pick(rng, ("First, ", "Start with ", ""))
        else:
            lead = _pick(rng, ("Then ", "Next, ", "Finally, " if _is_last(current) else "Then ", ""))
        lines.append(f"{lead}{a} {op} {b} = {r}.")
        if not isinstance(current, int):
            lines.append(_pick(rng, ("Now we have {e}.", "The expression becomes {e}.", "That leaves {e}."),
                               e=_render(current)))
        first = False
    question = _pick(rng, ("Calculate {e}.", "What is {e}?", "Evaluate {e}.", "Compute the value of {e}.",
                           "Work out {e}.", "{e} = ?"), e=expression)
    return _item(question, " ".join(s for s in lines if s), current, "number", {"expression": expression},
                 ("{e} = {a}.", "The result is {a}."), e=expression)


def _times_digit(a: int, d: int) -> tuple[str, int]:
    """a (up to two digits) times a single digit d, split into tens and ones."""
    r = a * d
    if d == 1:
        return f"{a} * 1 = {a}.", r
    if a < 10 or a % 10 == 0:
        if a % 10 == 0 and a >= 10:
            return f"{a // 10} * {d} = {a // 10 * d}, so {a} * {d} = {r}.", r
        return f"{a} * {d} = {r}.", r
    t, u = a - a % 10, a % 10
    return f"{a} * {d} = {t} * {d} + {u} * {d} = {t * d} + {u * d} = {r}.", r


def _multiplication(rng: random.Random) -> dict[str, Any]:
    a = rng.randint(11, 99)
    b = rng.randint(2, 9) if rng.random() < 0.35 else rng.randint(11, 99)
    if rng.random() < 0.5:
        a, b = b, a
    big, small = (a, b) if a >= b else (b, a)
    if small < 10:
        text, r = _times_digit(big, small)
        lines = [text]
    else:
        tens, ones = small - small % 10, small % 10
        lines = [_pick(rng, ("Split {s} into {t} + {o}.", "Write {s} as {t} + {o}."), s=small, t=tens, o=ones)
                 if ones else f"{small} is {tens // 10} tens."]
        text, part = _times_digit(big, tens // 10)
        lines.append(f"{text[:-1]}, so {big} * {tens} = {part * 10}.")
        if ones:
            text, part2 = _times_digit(big, ones)
            lines.append(text)
            lines.append(_pick(rng, ("Add: {x} + {y} = {r}.", "Together: {x} + {y} = {r}."),
                               x=part * 10, y=part2, r=big * small))
        r = big * small
    expr = f"{a} * {b}"
    question = _pick(rng, ("What is {e}?", "Calculate {e}.", "Multiply {a} by {b}.",
                           "Solve the following multiplication: {e}.",
                           "What is the product of {a} and {b}?"), e=expr, a=a, b=b)
    return _item(question, " ".join(lines), r, "number", {"a": a, "b": b}, ("{e} = {a}.", "The product is {a}."),
                 e=expr)


# -------------------------------------------------------------------------------------------------- word problems


def _plural(animal: str, count: int) -> str:
    if count == 1:
        return animal
    return _PLURAL.get(animal, animal + "s")


def join_words(parts: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _word_problem(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(("legs", "items", "coins", "share"))
    if kind == "legs":
        animals = rng.sample(sorted(LEGS), rng.randint(2, 3))
        counts = [rng.randint(1, 6) for _ in animals]
        listing = join_words([f"{c} {_plural(a, c)}" for a, c in zip(animals, counts)])
        question = _pick(rng, ("A farm has {l}. How many legs are there in total?",
                               "How many legs are there in total if you have {l}?",
                               "Count the legs: {l}. What is the total?",
                               "In a zoo there are {l}. How many legs do they have altogether?"), l=listing)
        lines, parts = [], []
        for a, c in zip(animals, counts):
            legs = LEGS[a]
            word = "leg" if legs == 1 else "legs"
            lines.append(f"{'A' if a[0] not in 'aeiou' else 'An'} {a} has {legs} {word}: {c} * {legs} = {c * legs}.")
            parts.append(c * legs)
        total = sum(parts)
        lines.append(f"Total: {' + '.join(map(str, parts))} = {total}.")
        params = {"kind": kind, "animals": [[a, c] for a, c in zip(animals, counts)]}
        return _item(question, " ".join(lines), total, "number", params,
                     ("There are {a} legs in total.", "They have {a} legs altogether."))
    if kind == "items":
        name = rng.choice(NAMES)
        thing = rng.choice(("apples", "pencils", "stickers", "marbles", "cookies", "cards", "stamps", "shells"))
        start, bags, per, give = rng.randint(2, 20), rng.randint(2, 5), rng.randint(2, 8), rng.randint(1, 10)
        container = rng.choice(("bags", "boxes", "packs"))
        question = _pick(rng, (
            "{n} has {s} {t}. {n} buys {b} {c} with {p} {t} each, then gives {g} {t} to a friend. "
            "How many {t} does {n} have now?",
            "{n} starts with {s} {t}, gets {b} {c} of {p} {t} each and gives away {g}. How many {t} are left?",
            "There are {s} {t} in a drawer. {n} adds {b} {c} holding {p} {t} each and then takes out {g}. "
            "How many {t} are in the drawer?"),
            n=name, s=start, t=thing, b=bags, c=container, p=per, g=give)
        bought = bags * per
        lines = [f"{bags} {container} of {per}: {bags} * {per} = {bought} {thing}.",
                 f"{start} + {bought} = {start + bought}.",
                 f"{_pick(rng, ('Minus the', 'Take away the', 'Remove the'))} {give}: "
                 f"{start + bought} - {give} = {start + bought - give}."]
        return _item(question, " ".join(lines), start + bought - give, "number",
                     {"kind": kind, "start": start, "groups": bags, "per_group": per, "removed": give},
                     ("There are {a} " + thing + " now.", "The total is {a} " + thing + "."))
    if kind == "coins":
        name = rng.choice(NAMES)
        coins = rng.sample(sorted(COINS), rng.randint(2, 3))
        counts = [rng.randint(1, 9) for _ in coins]
        listing = join_words([f"{c} {coin if c == 1 else _COIN_PLURAL[coin]}" for coin, c in zip(coins, counts)])
        question = _pick(rng, ("{n} has {l}. How many cents is that in total?",
                               "How many cents are {l} worth?",
                               "A jar holds {l}. What is the total value in cents?"), n=name, l=listing)
        lines, parts = [], []
        for coin, c in zip(coins, counts):
            unit = "cent" if COINS[coin] == 1 else "cents"
            lines.append(f"A {coin} is {COINS[coin]} {unit}: {c} * {COINS[coin]} = {c * COINS[coin]}.")
            parts.append(c * COINS[coin])
        total = sum(parts)
        lines.append(f"Total: {' + '.join(map(str, parts))} = {total} cents.")
        params = {"kind": kind, "coins": [[k, c] for k, c in zip(coins, counts)]}
        return _item(question, " ".join(lines), total, "number", params,
                     ("That is {a} cents.", "The total is {a} cents."))
    people, each = rng.randint(2, 9), rng.randint(2, 12)
    total = people * each
    thing = rng.choice(("cookies", "candies", "grapes", "marbles", "stickers", "crayons"))
    question = _pick(rng, ("{t} {x} are shared equally among {p} friends. How many {x} does each friend get?",
                           "{n} splits {t} {x} evenly between {p} kids. How many {x} does each kid get?",
                           "If {t} {x} are put into {p} equal groups, how many {x} are in each group?"),
                     t=total, x=thing, p=people, n=rng.choice(NAMES))
    reasoning = _pick(rng, ("Divide the {x} equally: {t} / {p} = {e}. Check: {p} * {e} = {t}.",
                            "Each gets {t} / {p}. Since {p} * {e} = {t}, that is {e}."),
                      x=thing, t=total, p=people, e=each)
    return _item(question, reasoning, each, "number", {"kind": kind, "total": total, "groups": people},
                 ("Each gets {a} " + thing + ".", "Each one gets {a}."))


def _unit_conversion(rng: random.Random) -> dict[str, Any]:
    (big, small), factor = rng.choice(sorted(UNITS.items()))
    if rng.random() < 0.5:  # big → small: multiply
        value = Fraction(rng.randint(2, 60)) + (Fraction(1, 2) if factor % 2 == 0 and rng.random() < 0.3 else 0)
        src, dst, result = big, small, value * factor
        reasoning = _pick(rng, ("1 {s1} = {f} {d}, so {v} {s} = {v} * {f} = {r} {d}.",
                                "There are {f} {d} in one {s1}. {v} * {f} = {r}, so that is {r} {d}."),
                          s1=_SINGULAR[big], s=big, d=small, f=factor, v=format_number(value), r=format_number(result))
    else:  # small → big: divide
        result = Fraction(rng.randint(2, 40))
        value = result * factor
        src, dst = small, big
        reasoning = _pick(rng, ("1 {b1} = {f} {s}, so {v} {s} = {v} / {f} = {r} {b}.",
                                "There are {f} {s} in one {b1}. {v} / {f} = {r}, so that is {r} {b}."),
                          b1=_SINGULAR[big], b=big, s=small, f=factor, v=format_number(value), r=format_number(result))
    v = format_number(value)
    question = _pick(rng, ("How many {d} are in {v} {s}?", "Convert {v} {s} to {d}.", "{v} {s} is how many {d}?",
                           "What is {v} {s} in {d}?"), d=dst, v=v, s=src)
    return _item(question, reasoning, result, "number", {"value": v, "from": src, "to": dst},
                 ("{v} {s} is {a} {d}.", "That is {a} {d}."), v=v, s=src, d=dst)


def _division_steps(n: int, base: int) -> list[str]:
    """The repeated-division steps that convert n to `base` ("13 / 2 = 6 remainder 1", …)."""
    steps = []
    while n:
        steps.append(f"{n} / {base} = {n // base} remainder {n % base}")
        n //= base
    return steps


def _base_conversion(rng: random.Random) -> dict[str, Any]:
    direction = rng.choice(("bin2dec", "dec2bin", "hex2dec", "dec2hex"))
    if direction in ("bin2dec", "dec2bin"):
        n = rng.randint(2, 127 if rng.random() < 0.6 else 511)
        b = format(n, "b")
        if direction == "bin2dec":
            terms = [(int(bit), 2 ** (len(b) - 1 - k)) for k, bit in enumerate(b)]
            nonzero = [str(p) for bit, p in terms if bit]
            reasoning = _pick(rng, ("Place values of {b} from the left: {pv}. Add the places that hold a 1: {s} = {n}.",
                                    "Each 1 in {b} adds its place value ({pv}): {s} = {n}."),
                              b=b, pv=", ".join(str(p) for _, p in terms), s=" + ".join(nonzero), n=n)
            if len(nonzero) == 1:
                reasoning = reasoning.replace(f"{nonzero[0]} = {n}", f"{n}")
            question = _pick(rng, ("Convert the binary number {b} to decimal.", "What is {b} (binary) in decimal?",
                                   "The binary number {b} equals which decimal number?"), b=b)
            return _item(question, reasoning, n, "number", {"direction": direction, "value": b},
                         ("{b} in binary is {a} in decimal.", "In decimal, that is {a}."), b=b)
        reasoning = "Divide by 2 repeatedly: " + "; ".join(_division_steps(n, 2)) + f". Read the remainders from last to first: {b}."
        question = _pick(rng, ("Convert {n} to binary.", "What is {n} written in binary?",
                               "Write the decimal number {n} in base 2."), n=n)
        return _item(question, reasoning, b, "code", {"direction": direction, "value": n},
                     ("{n} in binary is {a}.", "In binary, {n} is {a}."), n=n)
    n = rng.randint(17, 255 if rng.random() < 0.7 else 1023)
    h = format(n, "X")
    letters = [f"{c} = {int(c, 16)}" for c in dict.fromkeys(h) if c in "ABCDEF"]
    if direction == "hex2dec":
        digits = [int(c, 16) for c in h]
        powers = [16 ** (len(h) - 1 - k) for k in range(len(h))]
        terms = [f"{d} * {p}" if p > 1 else str(d) for d, p in zip(digits, powers)]
        values = [str(d * p) for d, p in zip(digits, powers)]
        reasoning = (f"{'In hex, ' + ' and '.join(letters) + '. ' if letters else ''}"
                     f"{h} = {' + '.join(terms)} = {' + '.join(values)} = {n}.")
        question = _pick(rng, ("Convert the hexadecimal number {h} to decimal.", "What is 0x{h} in decimal?",
                               "The hex number {h} equals which decimal number?"), h=h)
        return _item(question, reasoning, n, "number", {"direction": direction, "value": h},
                     ("{h} in hexadecimal is {a} in decimal.", "In decimal, that is {a}."), h=h)
    reasoning = "Divide by 16 repeatedly: " + "; ".join(_division_steps(n, 16)) + ". "
    if letters:
        reasoning += "As hex digits, " + ", ".join(f"{int(c.split(' = ')[1])} is {c[0]}" for c in letters) + ". "
    reasoning += f"Read the remainders from last to first: {h}."
    question = _pick(rng, ("Convert {n} to hexadecimal.", "What is {n} in hex?",
                           "Write the decimal number {n} in base 16."), n=n)
    return _item(question, reasoning, h, "code", {"direction": direction, "value": n},
                 ("{n} in hexadecimal is {a}.", "In hex, {n} is {a}."), n=n)


def _date_difference(rng: random.Random) -> dict[str, Any]:
    year = rng.randint(2000, 2030)
    m1 = rng.randint(1, 12)
    m2 = min(12, m1 + rng.choice((0, 1, 1, 2, 2, 3, 4, 6, 9)))
    length = lambda m: calendar.monthrange(year, m)[1]  # noqa: E731
    while True:  # at least two days apart, so every sentence can say "days"
        d1 = rng.randint(1, length(m1) - (2 if m1 == m2 else 0))
        d2 = rng.randint(d1 + 2, length(m2)) if m1 == m2 else rng.randint(1, length(m2))
        a, b = dt.date(year, m1, d1), dt.date(year, m2, d2)
        if (b - a).days >= 2 and (m1 == m2 or length(m1) - d1 >= 1):
            break
    n1, n2 = MONTHS[m1 - 1], MONTHS[m2 - 1]
    lines = []
    leap = f"{year} {'is' if calendar.isleap(year) else 'is not'} a leap year, so February has {length(2)} days"
    if 2 in range(m1 + 1, m2):
        lines.append(f"{leap}.")
    if m1 == m2:
        total = d2 - d1
        lines.append(f"Both dates are in {n1}: {d2} - {d1} = {total} days.")
    else:
        total = length(m1) - d1
        opening = f"{leap} and" if m1 == 2 else f"{n1} has {length(m1)} days, so"
        lines.append(f"{opening} {length(m1)} - {d1} = {total} days are left in {n1}.")
        for m in range(m1 + 1, m2):
            lines.append(f"{MONTHS[m - 1]} adds {length(m)}: {total} + {length(m)} = {total + length(m)}.")
            total += length(m)
        lines.append(f"Then {d2} days into {n2}: {total} + {d2} = {total + d2}.")
        total += d2
    question = _pick(rng, (
        "How many days are there from {n1} {d1} to {n2} {d2}, {y}?",
        "How many days pass between {n1} {d1}, {y} and {n2} {d2}, {y}?",
        "Counting from {a} to {b}, how many days is that?",
        "If today is {n1} {d1}, {y}, how many days is it until {n2} {d2}?"),
        n1=n1, d1=d1, n2=n2, d2=d2, y=year, a=a.isoformat(), b=b.isoformat())
    return _item(question, " ".join(lines), total, "number", {"start": a.isoformat(), "end": b.isoformat()},
                 ("There are {a} days between the two dates.", "That is {a} days."))


def _sorting(rng: random.Random) -> dict[str, Any]:
    count = rng.randint(4, 6)
    descending = rng.random() < 0.35
    if rng.random() < 0.6:
        items: list[Any] = rng.sample(range(1, 100), count)
        label = "numbers"
        pick_name = "largest" if descending else "smallest"
        remaining, order, lines = list(items), [], []
        while len(remaining) > 1:
            best = max(remaining) if descending else min(remaining)
            lines.append(f"The {pick_name} of {', '.join(map(str, remaining))} is {best}.")
            order.append(best)
            remaining.remove(best)
        lines.append(f"{remaining[0]} is left.")
        order.append(remaining[0])
        reasoning = " ".join(lines)
        direction = "from largest to smallest" if descending else "from smallest to largest"
    else:
        while True:
            items = rng.sample(WORDS, count)
            if len({w[0] for w in items}) == count:
                break
        label = "words"
        order = sorted(items, reverse=descending)
        letters = sorted((w[0] for w in items), reverse=descending)
        reasoning = (f"First letters: {', '.join(f'{w} ({w[0]})' for w in items)}. "
                     f"{'Reverse alphabetical' if descending else 'Alphabetical'} order of the letters: "
                     f"{', '.join(letters)}. "
                     f"So the order is {', '.join(order)}.")
        direction = "in reverse alphabetical order" if descending else "in alphabetical order"
    listing = ", ".join(map(str, items))
    question = _pick(rng, ("Sort these {k} {d}: {l}.", "Put the following {k} in order {d}: {l}", "Arrange {d}: {l}."),
                     k=label, d=direction, l=listing)
    answer = ", ".join(map(str, order))
    return _item(question, reasoning, answer, "list", {"items": items, "descending": descending},
                 ("Sorted: {a}.", "The sorted list is {a}.", "In order: {a}."))


def _comparison_logic(rng: random.Random) -> dict[str, Any]:
    more, less, most, least = rng.choice(RELATIONS)
    people = rng.sample(NAMES, rng.randint(3, 5))  # people[0] has the most of the quality
    facts = [(people[k], people[k + 1]) for k in range(len(people) - 1)]
    rng.shuffle(facts)
    stated = [f"{a} is {more} than {b}." if rng.random() < 0.6 else f"{b} is {less} than {a}." for a, b in facts]
    ask_most = rng.random() < 0.55
    target = people[0] if ask_most else people[-1]
    question = _pick(rng, ("{f} Who is the {s}?", "{f} Which person is the {s}?",
                           "Facts: {f} Who is the {s} of them all?"),
                     f=" ".join(stated), s=most if ask_most else least)
    reasoning = (f"As '{more} than' facts: {'; '.join(f'{a} > {b}' for a, b in facts)}. "
                 f"Linking them from {most} to {least}: {' > '.join(people)}. ")
    reasoning += (f"Nobody is {more} than {target}, so {target} is the {most}." if ask_most
                  else f"Nobody is {less} than {target}, so {target} is the {least}.")
    superlative = most if ask_most else least
    return _item(question, reasoning, target, "word",
                 {"facts": [list(f) for f in facts], "ask": "most" if ask_most else "least", "choices": sorted(people)},
                 ("{a} is the " + superlative + ".", "The " + superlative + " is {a}."))


def _percent(rng: random.Random) -> dict[str, Any]:
    p = rng.choice((5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 80, 12, 35, 45))
    step = 100 // math.gcd(p, 100)
    base = step * rng.randint(max(1, 10 // step), max(2, 1000 // step))
    part = p * base // 100
    kind = rng.choice(("part", "part", "discount", "increase"))
    lines = [f"{p}% of {base} = {p} * {base} / 100.", f"{p} * {base} = {p * base}.", f"{p * base} / 100 = {part}."]
    if kind == "part":
        question = _pick(rng, ("What is {p}% of {b}?", "Calculate {p} percent of {b}.", "Find {p}% of {b}."),
                         p=p, b=base)
        answer, specific = part, ("{p}% of {b} is {a}.", "It is {a}.")
    elif kind == "discount":
        item = rng.choice(("jacket", "lamp", "bike", "game", "chair", "pair of shoes"))
        question = _pick(rng, ("A {i} costs ${b} and is {p}% off. What is the sale price in dollars?",
                               "A store takes {p}% off a ${b} {i}. How much does the {i} cost now, in dollars?"),
                         i=item, b=base, p=p)
        answer = base - part
        lines.append(f"The discount is {part}, so the price is {base} - {part} = {answer}.")
        specific = ("The sale price is ${a}.", "It now costs ${a}.")
    else:
        question = _pick(rng, ("A town of {b} people grows by {p}%. How many people live there now?",
                               "A price of {b} dollars rises by {p}%. What is the new price in dollars?"), b=base, p=p)
        answer = base + part
        lines.append(f"The increase is {part}, so the new value is {base} + {part} = {answer}.")
        specific = ("The new value is {a}.", "It is now {a}.")
    return _item(question, " ".join(lines), answer, "number", {"percent": p, "base": base, "kind": kind}, specific,
                 p=p, b=base)


def _letter_count(rng: random.Random) -> dict[str, Any]:
    words = rng.sample(WORDS, rng.randint(2, 4))
    text = " ".join(words)
    letters = sorted(set(text.replace(" ", "")))
    absent = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in letters]
    letter = rng.choice(letters) if rng.random() < 0.85 else rng.choice(absent)
    counts = [w.count(letter) for w in words]
    lines = [f"{w}: {'-'.join(w)} has {c}." for w, c in zip(words, counts)]
    lines.append(f"Total: {' + '.join(map(str, counts))} = {sum(counts)}.")
    question = _pick(rng, ('How many times does the letter "{c}" appear in the text: "{t}"?',
                           "Count the letter '{c}' in \"{t}\".", 'How many "{c}"s are in the phrase "{t}"?',
                           'In the text "{t}", how often does the letter {c} occur?'), c=letter, t=text)
    return _item(question, f"Count \"{letter}\" word by word. " + " ".join(lines), sum(counts), "number",
                 {"text": text, "letter": letter},
                 ('The letter "{c}" appears {a} times.', 'There are {a} "{c}"s.'), c=letter)


def _reverse(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.55:
        word = rng.choice([w for w in WORDS if len(w) >= 4])
        backward = word[::-1]
        question = _pick(rng, ("Spell {w} backward.", "Spell this word backward: {w}",
                               "What is \"{w}\" written in reverse?"), w=word)
        reasoning = _pick(rng, ("The letters of {w} are {s}. In reverse order: {r}. Joined: {b}.",
                                "{w} is spelled {s}. From the last letter to the first: {r}, which gives {b}."),
                          w=word, s="-".join(word), r="-".join(backward), b=backward)
        return _item(question, reasoning, backward, "word", {"kind": "word", "word": word},
                     ("{w} backward is {a}.", "Backward, it is {a}."), w=word)
    words = rng.sample(WORDS, rng.randint(3, 5))
    listing = ", ".join(words)
    question = _pick(rng, ("Reverse this list of words: {l}", "Write these words in reverse order: {l}.",
                           "Put the words {l} in the opposite order."), l=listing)
    numbered = ", ".join(f"{k + 1}. {w}" for k, w in enumerate(words))
    reasoning = (f"The words in order are {numbered}. "
                 f"From last to first: {', '.join(f'{len(words) - k}. {w}' for k, w in enumerate(reversed(words)))}.")
    return _item(question, reasoning, ", ".join(reversed(words)), "list", {"kind": "list", "words": words},
                 ("Reversed: {a}.", "In reverse order: {a}."))


def euclid_steps(a: int, b: int) -> tuple[list[str], int]:
    """Euclid's algorithm written out ("90 = 1 * 82 + 8.", …) and the GCD."""
    x, y = max(a, b), min(a, b)
    lines = []
    while y:
        lines.append(f"{x} = {x // y} * {y} + {x % y}.")
        x, y = y, x % y
    return lines, x


def _gcd_lcm(rng: random.Random) -> dict[str, Any]:
    want_lcm = rng.random() < 0.4
    while True:
        a, b = rng.randint(4, 100), rng.randint(4, 100)
        if a != b and (not want_lcm or a * b // math.gcd(a, b) <= 2000):
            break
    lines, g = euclid_steps(a, b)
    lines.append(f"The remainder is 0, so the GCD is {g}.")
    if want_lcm:
        lines.append(f"LCM = {a} * {b} / {g} = {a * b} / {g} = {a * b // g}.")
        question = _pick(rng, ("Find the Least Common Multiple (LCM) of {a} and {b}.",
                               "What is the LCM of {a} and {b}?",
                               "What is the smallest number that both {a} and {b} divide?"), a=a, b=b)
        return _item(question, "Euclid's algorithm for the GCD first: " + " ".join(lines), a * b // g, "number",
                     {"kind": "lcm", "numbers": [a, b]}, ("The LCM of {x} and {y} is {a}.", "The LCM is {a}."),
                     x=a, y=b)
    question = _pick(rng, ("Find the Greatest Common Divisor (GCD) of {a} and {b}.", "What is the GCD of {a} and {b}?",
                           "What is the largest number that divides both {a} and {b}?"), a=a, b=b)
    return _item(question, "Euclid's algorithm: " + " ".join(lines), g, "number", {"kind": "gcd", "numbers": [a, b]},
                 ("The GCD of {x} and {y} is {a}.", "The GCD is {a}."), x=a, y=b)


def _linear_equation(rng: random.Random) -> dict[str, Any]:
    var = rng.choice("xyznkmtpw")
    a = rng.choice((-1, 1)) * rng.randint(2, 12)
    x = rng.randint(-15, 20)
    b = rng.choice((-1, 1)) * rng.randint(1, 50)
    c = a * x + b
    compact = rng.random() < 0.3 and a > 0
    term = f"{a}{var}" if compact else f"{a}*{var}"
    if rng.random() < 0.5:
        lhs = f"{term} {'+' if b > 0 else '-'} {abs(b)}"
    else:
        lhs = f"{b} {'+' if a > 0 else '-'} {term.lstrip('-')}"
    equation = f"{lhs} = {c}"
    move = (f"Subtract {b} from both sides: {term} = {c} - {b} = {c - b}." if b > 0
            else f"Add {-b} to both sides: {term} = {c} + {-b} = {c - b}.")
    divide = f"Divide both sides by {a}: {var} = {c - b} / {a} = {x}."
    check = f"Check: {a} * {x} {'+' if b > 0 else '-'} {abs(b)} = {a * x} {'+' if b > 0 else '-'} {abs(b)} = {c}."
    question = _pick(rng, ("Solve for {v}: {e}", "Find the value of {v} in the equation: {e}",
                           "What value of {v} satisfies {e}?"), v=var, e=equation)
    params = {"equation": equation, "variable": var, "a": a, "b": b, "c": c}
    return _item(question, " ".join((move, divide, check)), x, "number", params,
                 ("{v} = {a}.", "The solution is {v} = {a}."), v=var)


_MAKERS: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "arithmetic": _arithmetic,
    "multiplication": _multiplication,
    "word_problem": _word_problem,
    "unit_conversion": _unit_conversion,
    "base_conversion": _base_conversion,
    "date_difference": _date_difference,
    "sorting": _sorting,
    "comparison_logic": _comparison_logic,
    "percent": _percent,
    "letter_count": _letter_count,
    "reverse": _reverse,
    "gcd_lcm": _gcd_lcm,
    "linear_equation": _linear_equation,
}
TASKS: tuple[str, ...] = tuple(_MAKERS)


def make_item(task: str, rng: random.Random) -> dict[str, Any]:
    """One problem: {"question", "reasoning", "answer", "content", "answer_type", "params", "task"}.

    `content` is the assistant's final answer sentence (a bare answer when the question asks for only the answer);
    `params` holds the task's inputs in structured form, for independent checking.
    """
    if task not in _MAKERS:
        raise SourceError(f"synthetic-reasoning: unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    raw = _MAKERS[task](rng)
    answer = raw["answer"]
    style = rng.random()
    question = raw["question"]
    if style < 0.25:
        question += (rng.choice(("\n\n", " ")) if question[-1] in ".?!" else "\n\n") + rng.choice(_BARE_INSTRUCTIONS)
        content = answer
    elif style < 0.6 or not raw["_specific"]:
        content = rng.choice(_GENERIC_ANSWERS).format(a=answer)
    else:
        content = rng.choice(raw["_specific"]).format(a=answer, **raw["_values"])
    return {"question": question, "reasoning": raw["reasoning"], "answer": answer, "content": content,
            "answer_type": raw["answer_type"], "params": raw["params"], "task": task}


def generate(
    n: int,
    *,
    seed: int,
    name: str = "synthetic-reasoning",
    tasks: Sequence[str] | None = None,
    system: str | None = None,
) -> Iterator[Example]:
    """n examples, tasks round-robin; item i is built from Random(f"{seed}:{i}") alone."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    chosen = _check_tasks(tasks, TASKS, "synthetic-reasoning")
    for i in range(n):
        task = chosen[i % len(chosen)]
        item = make_item(task, random.Random(f"{seed}:{i}"))
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages += [
            {"role": "user", "content": item["question"]},
            {"role": "assistant", "content": item["content"], "reasoning": item["reasoning"]},
        ]
        metadata = {"task": task, "answer": item["answer"], "answer_type": item["answer_type"],
                    "params": item["params"], "seed": seed, "index": i}
        yield Example(source=name, row_id=f"{seed}:{i}", messages=messages, tools=[], metadata=metadata)


def _check_tasks(tasks: Sequence[str] | None, valid: Sequence[str], source: str) -> list[str]:
    if tasks is None:
        return list(valid)
    if isinstance(tasks, str):
        raise SourceError(f"{source}: tasks must be a list of task names, not the string {tasks!r}")
    unknown = [t for t in tasks if t not in valid]
    if unknown or not tasks:
        bad = unknown[0] if unknown else "(empty list)"
        raise SourceError(f"{source}: unknown task {bad!r}; valid tasks: {', '.join(valid)}")
    return list(tasks)


# ------------------------------------------------------------------------------------------------------ grading

_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")
_ITEM = r"-?[\w'’]+(?:\.\d+)?"
_LIST_RUN = re.compile(rf"{_ITEM}(?:\s*(?:,\s*(?:and\s+)?|\s+and\s+){_ITEM})+")
_DEFAULT_TYPES = {"sorting": "list", "comparison_logic": "word"}


def final_answer(text: str) -> str:
    """The answer part of a reply: its last non-empty line, minus "The answer is"/"Answer:" lead-ins, markup and a
    trailing period. Used to pull a bare answer out of a sentence before an exact-match scorer sees it."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    last = re.sub(r"\\boxed\{(.*)\}", r"\1", last)
    last = re.split(r"(?i)\b(?:final answer|answer)\b\s*(?:is|:|=)?\s*", last)[-1]
    return last.strip().strip("*`\"'").strip().rstrip(".!").strip().strip("*`\"'").strip()


def _numbers(text: str) -> list[float]:
    return [float(m.replace(",", "")) for m in _NUMBER.findall(text)]


def _norm_word(text: str) -> str:
    return text.strip().strip("*`\"'“”‘’").strip().rstrip(".!?").strip().strip("*`\"'“”‘’").lower()


def _same_item(a: str, b: str) -> bool:
    a, b = _norm_word(a), _norm_word(b)
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    except ValueError:
        return a == b


def check_answer(item_or_metadata: dict[str, Any], predicted: str | None) -> bool:
    """Is a model's answer (bare, or a short sentence ending in it) the gold answer of this item?"""
    if not isinstance(predicted, str) or not predicted.strip():
        return False
    gold = str(item_or_metadata["answer"])
    kind = item_or_metadata.get("answer_type") or _DEFAULT_TYPES.get(item_or_metadata.get("task", ""), "number")
    text = predicted.strip()
    if kind == "number":
        numbers = _numbers(text)
        return bool(numbers) and math.isclose(numbers[-1], float(gold), rel_tol=1e-9, abs_tol=1e-9)
    if kind == "code":  # binary / hexadecimal digits; prefixes and leading zeros ignored
        tokens = re.findall(r"\b(?:0[xXbB])?[0-9A-Fa-f]+\b", text)
        if not tokens:
            return False
        token = tokens[-1].lower()
        token = token[2:] if token[:2] in ("0x", "0b") and len(token) > 2 else token
        return (token.lstrip("0") or "0") == (gold.lower().lstrip("0") or "0")
    if kind == "list":
        want = [w.strip() for w in gold.split(",")]
        runs = list(_LIST_RUN.finditer(text))
        if runs:
            got = [g for g in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", runs[-1].group(0)) if g]
        else:
            got = final_answer(text).split()
        return len(got) == len(want) and all(_same_item(g, w) for g, w in zip(got, want))
    # a single word or name
    if _norm_word(text) == gold.lower() or _norm_word(final_answer(text)) == gold.lower():
        return True
    words = re.findall(r"[\w'’]+", text)
    if words and words[-1].lower() == gold.lower():
        return True
    params = item_or_metadata.get("params") or {}
    choices = params.get("choices") if isinstance(params, dict) else None
    if choices:
        named = [c for c in choices if re.search(rf"\b{re.escape(c)}\b", text, re.IGNORECASE)]
        return named == [gold] or [c.lower() for c in named] == [gold.lower()]
    return False
