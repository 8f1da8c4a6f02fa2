"""Worked solutions for the easy reasoning-gym tasks: a short, step-by-step reasoning trace and the bare answer,
written procedurally from the entry's own metadata (the numbers, words and animals reasoning-gym drew).

They turn reasoning-gym's prompt-only items into training conversations (`reasoning-gym` source with
`solutions: true`) in the style of the synthetic-reasoning traces: small steps a 135M model can imitate (one
operation per step, words spelled letter by letter). `solve` checks every answer with the task's own
`score_answer` through `gym.score`; a trace whose answer the task does not accept raises, because that is a bug
here, not a bad row.

The expressions in basic_arithmetic and simple_equations are parsed with `ast` / sympy: they come from
reasoning-gym's generator (our own training data), never from a model.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from typing import Any

from smolthink.data.sources.synthetic_reasoning import euclid_steps

def _spell(word: str) -> str:
    return "-".join(word)


def _sum_step(a: int, op: str, b: int) -> str:
    """'70 + 47 = 117', with two-digit operands split into tens and units: '70 + 40 = 110, 110 + 7 = 117'."""
    result = a + b if op == "+" else a - b
    if abs(b) >= 10 and b % 10:
        tens, units = b - b % 10, b % 10
        mid = a + tens if op == "+" else a - tens
        return f"{a} {op} {b}: {a} {op} {tens} = {mid}, {mid} {op} {units} = {result}."
    return f"{a} {op} {b} = {result}."


def _product_step(a: int, b: int) -> str:
    """'26 * 41 = 41 * 20 + 41 * 6 = 820 + 246 = 1066' (the smaller factor split when it has two digits)."""
    big, small = (a, b) if abs(a) >= abs(b) else (b, a)
    if abs(small) >= 10 and small % 10:
        tens, units = small - small % 10, small % 10
        return (f"{a} * {b} = {big} * {tens} + {big} * {units} = {big * tens} + {big * units} = {a * b}.")
    return f"{a} * {b} = {a * b}."


# ------------------------------------------------------------------------------------------------------ solvers


def _chain_sum(meta: dict) -> tuple[str, str]:
    tokens = meta["expression"].split()
    value, steps = int(tokens[0]), []
    for op, num in zip(tokens[1::2], tokens[2::2]):
        steps.append(_sum_step(value, op, int(num)))
        value = value + int(num) if op == "+" else value - int(num)
    return "Left to right: " + " ".join(steps), str(value)


def _basic_arithmetic(meta: dict) -> tuple[str, str]:
    steps: list[str] = []
    ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            left, right = walk(node.left), walk(node.right)
            op = ops[type(node.op)]
            value = {"+": left + right, "-": left - right, "*": left * right}[op]
            shown = f"({right})" if right < 0 else str(right)
            steps.append(f"{left} {op} {shown} = {value}.")
            return value
        raise ValueError(f"basic_arithmetic: unexpected expression part {ast.dump(node)}")

    expression = meta["expression"]
    value = walk(ast.parse(expression, mode="eval").body)
    lead = "Multiplication first, then left to right" if "*" in expression else "Left to right"
    if "(" in expression:
        lead = "Parentheses first, then multiplication, then left to right"
    return f"{lead}: " + " ".join(steps or [f"The value is {value}."]), str(value)


def _leg_counting(meta: dict) -> tuple[str, str]:
    from reasoning_gym.arithmetic.leg_counting import ANIMALS  # the task's own legs-per-animal table

    parts, counts = [], []
    for animal, n in meta["animals"].items():
        legs = ANIMALS[animal]
        parts.append(f"{'An' if animal[0] in 'aeiou' else 'A'} {animal} has {legs} legs, so {n} * {legs} = {n * legs}.")
        counts.append(n * legs)
    total = sum(counts)
    return " ".join(parts) + f" Total: {' + '.join(map(str, counts))} = {total}.", str(total)


def _letter_counting(meta: dict) -> tuple[str, str]:
    letter = meta["target_letter"]
    lines, counts = [], []
    for word in meta["span"]:
        c = word.lower().count(letter)
        lines.append(f"{word}: {_spell(word.lower())} has {c}.")
        counts.append(c)
    total = sum(counts)
    return (f'Count "{letter}" word by word. ' + " ".join(lines)
            + f" Total: {' + '.join(map(str, counts))} = {total}."), str(total)


def _spell_backward(meta: dict) -> tuple[str, str]:
    word = meta["word"]
    return (f"The letters of {word} are {_spell(word)}. From the last letter to the first: {_spell(word[::-1])}. "
            f"Joined: {word[::-1]}."), word[::-1]


def _word_sequence_reversal(meta: dict) -> tuple[str, str]:
    words = meta["words"]
    numbered = ", ".join(f"{k + 1}. {w}" for k, w in enumerate(words))
    backward = ", ".join(f"{len(words) - k}. {w}" for k, w in enumerate(reversed(words)))
    return f"The words in order are {numbered}. From last to first: {backward}.", ", ".join(reversed(words))


def _products(meta: dict) -> tuple[str, str]:
    a, b = (int(t) for t in meta["expression"].split(" * "))
    return _product_step(a, b), str(a * b)


def _gcd(meta: dict) -> tuple[str, str]:
    a, b = meta["numbers"]
    steps, g = euclid_steps(a, b)
    return f"Euclid's algorithm on {a} and {b}: " + " ".join(steps) + f" The last nonzero remainder is {g}.", str(g)


def _lcm(meta: dict) -> tuple[str, str]:
    a, b = meta["numbers"]
    steps, g = euclid_steps(a, b)
    lcm = a * b // g
    return (f"LCM = {a} * {b} / GCD. Euclid's algorithm for the GCD: " + " ".join(steps)
            + f" So GCD = {g}. {a} * {b} = {a * b}, and {a * b} / {g} = {lcm}."), str(lcm)


def _simple_equations(meta: dict) -> tuple[str, str]:
    import sympy

    var = meta["variable"]
    left_text, right_text = meta["equation"].split(" = ")
    x = sympy.Symbol(var)
    left = sympy.sympify(left_text, locals={var: x})
    a, b, c = int(left.coeff(x)), int(left.subs(x, 0)), int(sympy.sympify(right_text))
    steps = []
    rest = c - b
    if b > 0:
        steps.append(f"Subtract {b} from both sides: {_term(a, var)} = {c} - {b} = {rest}.")
    elif b < 0:
        steps.append(f"Add {-b} to both sides: {_term(a, var)} = {c} + {-b} = {rest}.")
    if rest % a:
        raise ValueError(f"simple_equations: {meta['equation']} has no integer solution")
    value = rest // a
    if a != 1:
        steps.append(f"Divide both sides by {a}: {var} = {rest} / {a} = {value}.")
    check = f"Check: {_term(a, var).replace(var, f'({value})' if a != 1 else str(value))}"
    steps.append(f"{check} {'+' if b >= 0 else '-'} {abs(b)} = {a * value + b}." if b else f"{check} = {a * value}.")
    return " ".join(steps), str(value)


def _term(a: int, var: str) -> str:
    return var if a == 1 else f"-{var}" if a == -1 else f"{a}*{var}"


def _word_sorting(meta: dict) -> tuple[str, str]:
    words, direction = meta["transformed_words"], meta["direction"]
    ordered = sorted(words)
    firsts = ", ".join(f"{w} ({w[0]})" for w in words)
    text = (f"First characters: {firsts}. In ASCII order digits come before uppercase letters, and uppercase before "
            f"lowercase; ties go to the next character. Ascending: {', '.join(ordered)}.")
    if direction == "descending":
        ordered = ordered[::-1]
        text += f" Descending is the reverse: {', '.join(ordered)}."
    return text, ", ".join(ordered)


SOLVERS: dict[str, Callable[[dict], tuple[str, str]]] = {
    "chain_sum": _chain_sum,
    "basic_arithmetic": _basic_arithmetic,
    "leg_counting": _leg_counting,
    "letter_counting": _letter_counting,
    "spell_backward": _spell_backward,
    "word_sequence_reversal": _word_sequence_reversal,
    "products": _products,
    "gcd": _gcd,
    "lcm": _lcm,
    "simple_equations": _simple_equations,
    "word_sorting": _word_sorting,
}
_SPACES = re.compile(r"\s+")


def solve(metadata: dict[str, Any]) -> tuple[str, str]:
    """(reasoning, answer) for a reasoning-gym item's metadata (as `gym.generate` writes it); the answer is checked
    with the task's own scorer."""
    from smolthink.data.sources.gym import score

    task = metadata["task"]
    if task not in SOLVERS:
        raise ValueError(f"no worked solutions for reasoning-gym task {task!r}; tasks with solutions: "
                         f"{', '.join(SOLVERS)}")
    reasoning, answer = SOLVERS[task](metadata["entry"]["metadata"])
    if not math.isclose(score(metadata, answer), 1.0):
        raise ValueError(f"reasoning-gym {task}: the worked solution's answer {answer!r} is not accepted "
                         f"(expected {metadata['answer']!r}); this is a bug in gym_solutions")
    return _SPACES.sub(" ", reasoning).strip(), answer
