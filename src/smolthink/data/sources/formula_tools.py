"""Formula tools for the `formula` kind of synthetic-tools: one-formula functions named after what they compute.

BFCL's simple_python and irrelevance sets offer a model one function for a problem such as "the volume of a cone
with radius 3 and height 5": call it when it computes that quantity (`calculate_cone_volume`), answer yourself when
it computes a neighbouring one (`calculate_cylinder_volume`, `calculate_kinetic_energy`). The catalog tools and the
solvers of `task_tools` are too few for that line to be learned as a comparison rather than a list of names, so this
module holds ~40 formulas from geometry, physics, money and counting, each with the quantity's phrase, typed
parameters, the formula as written in a worked answer, and a function that computes it. Schemas are built from the
table (names in three styles: `calculate_cone_volume`, `geometry.cone_volume`, `get_cone_volume`), so the same
quantity is met under several names and the model has to read the name and description, not remember them.

Written from general knowledge; nothing here comes from BFCL's data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smolthink.data.sources.synthetic_reasoning import join_words


@dataclass(frozen=True)
class Param:
    name: str
    noun: str  # "radius": how a request and the schema's description name it
    lo: int  # whole-number values drawn from lo..hi
    hi: int
    unit: str = ""  # a fixed unit ("kg"); empty: the request's length unit (geometry) or none


@dataclass(frozen=True)
class Formula:
    key: str  # "cone_volume"
    quantity: str  # "the volume of a cone"
    domain: str  # "geometry": near misses are mostly drawn from the same domain
    params: tuple[Param, ...]
    work: str  # the formula over {param} placeholders, as a worked answer writes it
    fn: Callable[..., float]
    unit: str  # the answer's unit; "{u}" is the item's length unit
    units: tuple[str, ...] = ("",)  # a request gives its lengths in one of these units ("{u}" in `unit`)
    asked: str = ""  # how a request names it with its values ("the factorial of {n}"), instead of "... with a n of 7"
    valid: Callable[..., bool] | None = None  # which drawn values make a sensible request (k < n), if not all

    def describe(self) -> str:
        return f"Calculate {self.quantity} from the {join_words([p.noun for p in self.params])}."


def _p(name: str, noun: str | None = None, lo: int = 2, hi: int = 20, unit: str = "") -> Param:
    return Param(name, noun or name.replace("_", " "), lo, hi, unit)


_LENGTH = ("cm", "meters", "inches", "feet")
_G = 9.8

FORMULAS: tuple[Formula, ...] = (
    # geometry: the answer in the request's length unit
    Formula("circle_area", "the area of a circle", "geometry", (_p("radius"),), "A = π × {radius}²",
            lambda radius: math.pi * radius ** 2, "square {u}", _LENGTH),
    Formula("circle_circumference", "the circumference of a circle", "geometry", (_p("radius"),),
            "C = 2 × π × {radius}", lambda radius: 2 * math.pi * radius, "{u}", _LENGTH),
    Formula("rectangle_area", "the area of a rectangle", "geometry", (_p("length"), _p("width")),
            "A = {length} × {width}", lambda length, width: length * width, "square {u}", _LENGTH),
    Formula("rectangle_perimeter", "the perimeter of a rectangle", "geometry", (_p("length"), _p("width")),
            "P = 2 × ({length} + {width})", lambda length, width: 2 * (length + width), "{u}", _LENGTH),
    Formula("triangle_area", "the area of a triangle", "geometry", (_p("base"), _p("height")),
            "A = 1/2 × {base} × {height}", lambda base, height: base * height / 2, "square {u}", _LENGTH),
    Formula("square_area", "the area of a square", "geometry", (_p("side", "side length"),), "A = {side}²",
            lambda side: side ** 2, "square {u}", _LENGTH),
    Formula("square_perimeter", "the perimeter of a square", "geometry", (_p("side", "side length"),),
            "P = 4 × {side}", lambda side: 4 * side, "{u}", _LENGTH),
    Formula("trapezoid_area", "the area of a trapezoid", "geometry",
            (_p("base1", "first parallel side"), _p("base2", "second parallel side"), _p("height")),
            "A = 1/2 × ({base1} + {base2}) × {height}", lambda base1, base2, height: (base1 + base2) * height / 2,
            "square {u}", _LENGTH),
    Formula("parallelogram_area", "the area of a parallelogram", "geometry", (_p("base"), _p("height")),
            "A = {base} × {height}", lambda base, height: base * height, "square {u}", _LENGTH),
    Formula("sphere_volume", "the volume of a sphere", "geometry", (_p("radius", lo=1, hi=12),),
            "V = 4/3 × π × {radius}³", lambda radius: 4 / 3 * math.pi * radius ** 3, "cubic {u}", _LENGTH),
    Formula("sphere_surface_area", "the surface area of a sphere", "geometry", (_p("radius", lo=1, hi=12),),
            "S = 4 × π × {radius}²", lambda radius: 4 * math.pi * radius ** 2, "square {u}", _LENGTH),
    Formula("cylinder_volume", "the volume of a cylinder", "geometry", (_p("radius", lo=1, hi=12), _p("height")),
            "V = π × {radius}² × {height}", lambda radius, height: math.pi * radius ** 2 * height, "cubic {u}",
            _LENGTH),
    Formula("cone_volume", "the volume of a cone", "geometry", (_p("radius", lo=1, hi=12), _p("height")),
            "V = 1/3 × π × {radius}² × {height}", lambda radius, height: math.pi * radius ** 2 * height / 3,
            "cubic {u}", _LENGTH),
    Formula("cube_volume", "the volume of a cube", "geometry", (_p("side", "edge length", 1, 12),), "V = {side}³",
            lambda side: side ** 3, "cubic {u}", _LENGTH),
    Formula("box_volume", "the volume of a rectangular box", "geometry", (_p("length"), _p("width"), _p("height")),
            "V = {length} × {width} × {height}", lambda length, width, height: length * width * height,
            "cubic {u}", _LENGTH),
    Formula("hypotenuse", "the hypotenuse of a right triangle", "geometry",
            (_p("side_a", "first leg"), _p("side_b", "second leg")), "c = √({side_a}² + {side_b}²)",
            lambda side_a, side_b: math.hypot(side_a, side_b), "{u}", _LENGTH),
    # physics: SI units
    Formula("average_speed", "the average speed", "physics", (_p("distance", "distance", 10, 500, unit="m"),
                                                              _p("time", "time", 2, 60, unit="s")),
            "v = {distance} / {time}", lambda distance, time: distance / time, "m/s"),
    Formula("kinetic_energy", "the kinetic energy of a moving object", "physics",
            (_p("mass", "mass", 1, 100, unit="kg"), _p("velocity", "velocity", 1, 30, unit="m/s")),
            "E = 1/2 × {mass} × {velocity}²", lambda mass, velocity: mass * velocity ** 2 / 2, "joules"),
    Formula("potential_energy", "the gravitational potential energy of an object", "physics",
            (_p("mass", "mass", 1, 100, unit="kg"), _p("height", "height", 1, 50, unit="m")),
            "E = {mass} × 9.8 × {height}", lambda mass, height: mass * _G * height, "joules"),
    Formula("force", "the force on an accelerating object", "physics",
            (_p("mass", "mass", 1, 100, unit="kg"), _p("acceleration", "acceleration", 1, 20, unit="m/s²")),
            "F = {mass} × {acceleration}", lambda mass, acceleration: mass * acceleration, "newtons"),
    Formula("momentum", "the momentum of a moving object", "physics",
            (_p("mass", "mass", 1, 100, unit="kg"), _p("velocity", "velocity", 1, 30, unit="m/s")),
            "p = {mass} × {velocity}", lambda mass, velocity: mass * velocity, "kg·m/s"),
    Formula("density", "the density of an object", "physics",
            (_p("mass", "mass", 1, 500, unit="kg"), _p("volume", "volume", 1, 20, unit="m³")),
            "ρ = {mass} / {volume}", lambda mass, volume: mass / volume, "kg/m³"),
    Formula("work_done", "the work done by a force", "physics",
            (_p("force", "force", 5, 200, unit="N"), _p("distance", "distance", 1, 50, unit="m")),
            "W = {force} × {distance}", lambda force, distance: force * distance, "joules"),
    Formula("power_output", "the power output of a machine", "physics",
            (_p("work", "work", 100, 5000, unit="J"), _p("time", "time", 2, 60, unit="s")),
            "P = {work} / {time}", lambda work, time: work / time, "watts"),
    Formula("pressure", "the pressure on a surface", "physics",
            (_p("force", "force", 10, 1000, unit="N"), _p("area", "area", 1, 20, unit="m²")),
            "p = {force} / {area}", lambda force, area: force / area, "pascals"),
    Formula("free_fall_distance", "the distance an object falls from rest", "physics",
            (_p("time", "time", 1, 10, unit="s"),), "d = 1/2 × 9.8 × {time}²", lambda time: _G * time ** 2 / 2,
            "meters"),
    Formula("acceleration", "the acceleration of an object", "physics",
            (_p("initial_velocity", "initial velocity", 0, 20, unit="m/s"),
             _p("final_velocity", "final velocity", 21, 60, unit="m/s"), _p("time", "time", 2, 20, unit="s")),
            "a = ({final_velocity} - {initial_velocity}) / {time}",
            lambda initial_velocity, final_velocity, time: (final_velocity - initial_velocity) / time, "m/s²"),
    Formula("voltage", "the voltage across a resistor", "physics",
            (_p("current", "current", 1, 10, unit="A"), _p("resistance", "resistance", 2, 100, unit="Ω")),
            "V = {current} × {resistance}", lambda current, resistance: current * resistance, "volts"),
    Formula("electric_power", "the electric power of a circuit", "physics",
            (_p("voltage", "voltage", 3, 240, unit="V"), _p("current", "current", 1, 10, unit="A")),
            "P = {voltage} × {current}", lambda voltage, current: voltage * current, "watts"),
    # money: amounts in dollars, rates in percent
    Formula("simple_interest", "the simple interest on a loan", "money",
            (_p("principal", "principal", 100, 10000, unit="$"), _p("rate", "annual interest rate", 1, 12, unit="%"),
             _p("years", "duration", 1, 10, unit="years")),
            "I = {principal} × {rate}/100 × {years}", lambda principal, rate, years: principal * rate / 100 * years,
            "dollars"),
    Formula("sale_price", "the price after a discount", "money",
            (_p("price", "original price", 10, 500, unit="$"), _p("discount", "discount", 5, 60, unit="%")),
            "price = {price} × (1 - {discount}/100)", lambda price, discount: price * (1 - discount / 100), "dollars"),
    Formula("sales_tax", "the sales tax on a purchase", "money",
            (_p("price", "price", 10, 500, unit="$"), _p("tax_rate", "tax rate", 2, 25, unit="%")),
            "tax = {price} × {tax_rate}/100", lambda price, tax_rate: price * tax_rate / 100, "dollars"),
    Formula("profit_margin", "the profit margin of a sale", "money",
            (_p("revenue", "revenue", 200, 5000, unit="$"), _p("cost", "cost", 50, 199, unit="$")),
            "margin = ({revenue} - {cost}) / {revenue} × 100",
            lambda revenue, cost: (revenue - cost) / revenue * 100, "percent"),
    Formula("percentage_change", "the percentage change between two values", "money",
            (_p("old_value", "old value", 10, 500), _p("new_value", "new value", 10, 500)),
            "change = ({new_value} - {old_value}) / {old_value} × 100",
            lambda old_value, new_value: (new_value - old_value) / old_value * 100, "percent",
            valid=lambda old_value, new_value: new_value != old_value),
    Formula("fuel_efficiency", "the fuel efficiency of a car", "money",
            (_p("distance", "distance", 50, 900, unit="km"), _p("fuel", "fuel amount", 5, 60, unit="liters")),
            "efficiency = {distance} / {fuel}", lambda distance, fuel: distance / fuel, "km per liter"),
    # counting and powers
    Formula("factorial", "the factorial of a number", "counting", (_p("n", "number", 3, 10),), "{n}! = {n} × … × 1",
            lambda n: math.factorial(n), "", asked="the factorial of {n}"),
    Formula("combinations", "the number of combinations of k items chosen from n", "counting",
            (_p("n", "number of items", 5, 15), _p("k", "number chosen", 2, 4)),
            "C({n}, {k}) = {n}! / ({k}! × ({n} - {k})!)",
            lambda n, k: math.comb(n, k), "", asked="the number of ways to choose {k} items from {n}",
            valid=lambda n, k: k < n),
    Formula("permutations", "the number of ordered arrangements of k items out of n", "counting",
            (_p("n", "number of items", 5, 12), _p("k", "number arranged", 2, 4)),
            "P({n}, {k}) = {n}! / ({n} - {k})!",
            lambda n, k: math.perm(n, k), "", asked="the number of ordered arrangements of {k} items out of {n}",
            valid=lambda n, k: k < n),
    Formula("power", "a number raised to a power", "counting", (_p("base", lo=2, hi=12), _p("exponent", lo=2, hi=5)),
            "{base}^{exponent}", lambda base, exponent: base ** exponent, "",
            asked="{base} raised to the power {exponent}"),
    Formula("square_root", "the square root of a number", "counting", (_p("number", "number", 2, 400),),
            "√{number}", lambda number: math.sqrt(number), "", asked="the square root of {number}"),
)

BY_KEY: dict[str, Formula] = {f.key: f for f in FORMULAS}
_STYLES = ("calculate_{k}", "calculate_{k}", "{d}.{k}", "get_{k}")


def tool_name(formula: Formula, rng: random.Random) -> str:
    return rng.choice(_STYLES).format(k=formula.key, d=formula.domain)


def schema(formula: Formula, name: str) -> dict[str, Any]:
    properties = {p.name: {"type": "integer",
                           "description": f"The {p.noun}" + (f", in {p.unit}." if p.unit else ".")}
                  for p in formula.params}
    return {"type": "function", "function": {
        "name": name, "description": formula.describe(),
        "parameters": {"type": "object", "properties": properties, "required": [p.name for p in formula.params]}}}


def fmt(x: float) -> str:
    """2 decimals at most, never "3.0"."""
    x = round(x, 2)
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}".rstrip("0")


def _values(formula: Formula, rng: random.Random) -> dict[str, int]:
    while True:
        args = {p.name: rng.randint(p.lo, p.hi) for p in formula.params}
        if formula.valid is None or formula.valid(**args):
            return args


_ASKS = ("What is {q} with {g}?", "Calculate {q} with {g}.", "Find {q} given {g}.", "Given {g}, compute {q}.",
         "I need {q} for {g}.")
_ASKED = ("What is {a}?", "Calculate {a}.", "Compute {a}.", "I need {a}.", "Can you work out {a}?")


def _amount(value: int, unit: str) -> str:
    """'$120', '15%', '3 cm', '7'."""
    if unit == "$":
        return f"${value}"
    if unit == "%":
        return f"{value}%"
    return f"{value} {unit}" if unit else str(value)


@dataclass(frozen=True)
class Problem:
    formula: Formula
    args: dict[str, int]
    unit: str  # the request's unit, "" when the formula's units are fixed
    text: str  # the user's request
    value: float  # the formula's result

    def worked(self) -> str:
        """'V = 1/3 × π × 3² × 5 = 47.12': the formula with the values, and the result."""
        return f"{self.formula.work.format(**self.args)} = {fmt(self.value)}"

    def answer(self) -> str:
        unit = self.formula.unit.replace("{u}", self.unit)
        q = self.formula.asked.format(**self.args) if self.formula.asked else self.formula.quantity
        return f"{q[0].upper()}{q[1:]} is {fmt(self.value)}{' ' + unit if unit else ''}."


def make_problem(formula: Formula, rng: random.Random) -> Problem:
    args = _values(formula, rng)
    unit = rng.choice(formula.units)
    if formula.asked:
        text = rng.choice(_ASKED).format(a=formula.asked.format(**args))
    else:
        given = [f"{'an' if p.noun[0] in 'aeiou' else 'a'} {p.noun} of {_amount(args[p.name], p.unit or unit)}"
                 for p in formula.params]
        text = rng.choice(_ASKS).format(q=formula.quantity, g=join_words(given))
    return Problem(formula, args, unit, text[0].upper() + text[1:], formula.fn(**args))


def near_misses(formula: Formula, rng: random.Random, k: int) -> list[Formula]:
    """k other formulas, most from the same domain (the volume of a cylinder for a cone's volume)."""
    same = [f for f in FORMULAS if f.domain == formula.domain and f is not formula]
    other = [f for f in FORMULAS if f.domain != formula.domain]
    chosen: list[Formula] = []
    while len(chosen) < k:
        pool = [f for f in (same if rng.random() < 0.7 else other) if f not in chosen]
        chosen.append(rng.choice(pool))
    return chosen
