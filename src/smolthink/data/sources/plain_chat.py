"""Plain-chat prompts with verifiable instructions: everyday requests ("Describe a horse.") that offer no tools,
each with one or two IFEval instructions ("Answer with less than 60 words.", "Do not include the word 'cow'.").

They exist so that a model tuned on tool calls and reasoning still answers ordinary chat as chat (issue #17). A
teacher answers `training_prompts`; `verify` keeps only the answers that follow every instruction, as checked by
if-verifiable (IFEval's own checkers, strict mode), and that hold no tool talk. The evaluation
(`smolthink.eval.ifeval`) asks the same kind of prompt about its own topics, never these (a test checks both the
topic lists and the generated prompts are disjoint).

Item i depends on (seed, i) alone (`random.Random(f"plain-chat:{seed}:{i}")`); training seeds are < 1_000_000.

The instruction catalog (`INSTRUCTIONS`) is shared with the evaluation: each entry is an if-verifiable instruction
id, its family (the eval category), and how to draw its kwargs and state it in words. Sentence counts are left out:
if-verifiable counts sentences with NLTK's punkt model, a data download that is not part of the package.
"""

from __future__ import annotations

import importlib.util
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from smolthink.errors import UserError

INSTALL_HINT = "pip install 'smolthink[eval]' (or just: pip install if-verifiable==0.1.2)"
TRAINING_SEED_LIMIT = 1_000_000  # = smolthink.eval.reasoning.TRAINING_SEED_LIMIT
SECOND_INSTRUCTION_P = 0.5  # the share of prompts with a second instruction (of another family)


class IFVerifiableNotInstalledError(UserError, ImportError):
    """if-verifiable is missing; the message carries the install command."""


# A topic: the request, two words a good answer naturally holds, and one word it can do without.
Topic = tuple[str, tuple[str, str], str]

TRAINING_TOPICS: tuple[Topic, ...] = (
    ("Explain why the grass is green.", ("chlorophyll", "light"), "color"),
    ("Give tips for a successful first date.", ("listen", "conversation"), "phone"),
    ("Describe a dog playing in the park.", ("ball", "tail"), "cat"),
    ("Explain how snowflakes form.", ("ice", "crystal"), "rain"),
    ("Describe a quiet lake at dawn.", ("mist", "water"), "boat"),
    ("Give advice for starting a vegetable garden.", ("soil", "seeds"), "store"),
    ("Describe a campfire at night.", ("flames", "smoke"), "cold"),
    ("Explain why we yawn.", ("brain", "tired"), "boring"),
    ("Give tips for saving energy at home.", ("lights", "heating"), "money"),
    ("Describe a horse.", ("mane", "gallop"), "cow"),
    ("Explain how the heart pumps blood.", ("chambers", "oxygen"), "brain"),
    ("Give advice for a student starting university.", ("friends", "schedule"), "party"),
    ("Describe the smell of fresh coffee.", ("roasted", "morning"), "tea"),
    ("Explain why the desert is hot by day and cold at night.", ("sand", "heat"), "water"),
    ("Describe a city park in autumn.", ("leaves", "bench"), "summer"),
    ("Give tips for being polite on a crowded bus.", ("seat", "quiet"), "car"),
    ("Explain how caterpillars become butterflies.", ("chrysalis", "wings"), "bird"),
    ("Describe a school classroom.", ("desks", "board"), "home"),
    ("Explain why we have day and night.", ("rotation", "sun"), "moon"),
    ("Give advice for the first week at a new job.", ("questions", "colleagues"), "boss"),
    ("Describe a fishing trip.", ("lake", "patience"), "city"),
    ("Explain why honey never spoils.", ("sugar", "moisture"), "fridge"),
    ("Describe a summer festival.", ("music", "crowd"), "winter"),
    ("Give tips for taking better photos.", ("light", "angle"), "filter"),
    ("Explain how fish breathe underwater.", ("gills", "oxygen"), "lungs"),
    ("Describe an elephant.", ("trunk", "ears"), "mouse"),
    ("Explain why cutting onions makes you cry.", ("gas", "eyes"), "knife"),
    ("Give advice for moving to a new city.", ("neighborhood", "explore"), "home"),
    ("Describe a cozy cafe.", ("coffee", "chairs"), "noise"),
    ("Explain how a compass works.", ("magnetic", "north"), "phone"),
    ("Describe a spring rain.", ("puddles", "fresh"), "snow"),
    ("Give tips for drinking more water.", ("bottle", "reminder"), "soda"),
    ("Explain why a moving bicycle stays upright.", ("balance", "wheels"), "car"),
    ("Describe a penguin.", ("ice", "swim"), "fly"),
    ("Explain how earthquakes happen.", ("plates", "crust"), "volcano"),
    ("Give advice for learning to swim.", ("breath", "float"), "fear"),
    ("Describe a night sky full of stars.", ("stars", "dark"), "sun"),
    ("Explain why people celebrate the new year.", ("tradition", "hope"), "party"),
    ("Describe a kitchen after a big dinner.", ("dishes", "table"), "clean"),
    ("Give tips for writing a cover letter.", ("skills", "company"), "salary"),
    ("Explain why we get goosebumps.", ("skin", "cold"), "fear"),
    ("Describe a waterfall.", ("water", "mist"), "river"),
    ("Explain how bats find their way in the dark.", ("echo", "sound"), "eyes"),
    ("Give advice for caring for a puppy.", ("training", "food"), "cat"),
    ("Describe an autumn harvest.", ("pumpkins", "fields"), "spring"),
    ("Explain why metal feels cold to the touch.", ("heat", "skin"), "ice"),
    ("Describe a small fishing village.", ("boats", "harbor"), "city"),
    ("Give tips for reading more books.", ("time", "library"), "phone"),
    ("Explain why we celebrate birthdays.", ("year", "family"), "cake"),
    ("Describe a frog.", ("green", "jump"), "fish"),
    ("Explain how paper is made.", ("wood", "pulp"), "plastic"),
    ("Suggest a fun activity for a rainy day.", ("indoor", "games"), "television"),
    ("Describe a hot summer day.", ("heat", "shade"), "snow"),
    ("Explain why the wind blows.", ("pressure", "air"), "trees"),
    ("Describe a visit to a museum.", ("paintings", "history"), "boring"),
    ("Give tips for cooking rice.", ("water", "heat"), "microwave"),
    ("Explain why the moon seems to change shape.", ("phases", "sunlight"), "shadow"),
    ("Describe a rabbit.", ("ears", "hop"), "cat"),
    ("Explain why we should wear sunscreen.", ("skin", "sun"), "beach"),
    ("Give advice for a long flight.", ("water", "sleep"), "movie"),
    ("Describe a mountain lake.", ("clear", "reflection"), "city"),
    ("Explain why some cheese has holes.", ("bacteria", "gas"), "mice"),
    ("Describe a busy airport.", ("travelers", "gates"), "quiet"),
    ("Give tips for keeping a journal.", ("daily", "thoughts"), "phone"),
)

_END_PHRASES = ("Is there anything else I can help with?", "Any other questions?",
                "Let me know if you have additional questions.")


@dataclass(frozen=True)
class Instruction:
    id: str  # if-verifiable's instruction id, e.g. "length_constraints:number_words"
    family: str  # the eval category it counts under: length, keywords, case, format, startend, punctuation
    draw: Callable[[random.Random, Topic], tuple[dict[str, Any], str]]  # -> (kwargs, the instruction in words)
    conflicts: frozenset[str] = frozenset()  # ids it is never paired with ("*": stands alone)


def _words(rng: random.Random, topic: Topic) -> tuple[dict[str, Any], str]:
    if rng.random() < 0.7:
        n = rng.choice((30, 40, 50, 60, 80, 100))
        return {"num_words": n, "relation": "less than"}, f"Answer with less than {n} words."
    n = rng.choice((30, 40, 50))
    return {"num_words": n, "relation": "at least"}, f"Answer with at least {n} words."


def _paragraphs(rng: random.Random, topic: Topic) -> tuple[dict[str, Any], str]:
    n = rng.choice((2, 3))
    return {"num_paragraphs": n}, (f"Your answer should have exactly {n} paragraphs, separated from each other by "
                                   "the markdown divider: ***")


def _existence(rng: random.Random, topic: Topic) -> tuple[dict[str, Any], str]:
    a, b = topic[1]
    return {"keywords": [a, b]}, f'Include the keywords "{a}" and "{b}" in your response.'


def _forbidden(rng: random.Random, topic: Topic) -> tuple[dict[str, Any], str]:
    return {"forbidden_words": [topic[2]]}, f'Do not include the word "{topic[2]}" in your response.'


def _frequency(rng: random.Random, topic: Topic) -> tuple[dict[str, Any], str]:
    word, n = rng.choice(topic[1]), rng.choice((2, 3))
    return ({"keyword": word, "frequency": n, "relation": "at least"},
            f'In your response, the word "{word}" should appear at least {n} times.')


def _fixed(text: str) -> Callable[[random.Random, Topic], tuple[dict[str, Any], str]]:
    return lambda rng, topic: ({}, text)


def _bullets(rng: random.Random, topic: Topic) -> tuple[dict[str, Any], str]:
    n = rng.choice((2, 3, 4, 5))
    return {"num_bullets": n}, (f"Your answer must contain exactly {n} bullet points. Use markdown bullet points "
                                "such as:\n* This is a point.")


def _highlights(rng: random.Random, topic: Topic) -> tuple[dict[str, Any], str]:
    n = rng.choice((1, 2, 3))
    return {"num_highlights": n}, (f"Highlight at least {n} section{'s' if n > 1 else ''} in your answer with "
                                   "markdown, i.e. *highlighted section*.")


def _postscript(rng: random.Random, topic: Topic) -> tuple[dict[str, Any], str]:
    return {"postscript_marker": "P.S."}, "At the end of your response, please add a postscript starting with P.S."


def _end(rng: random.Random, topic: Topic) -> tuple[dict[str, Any], str]:
    phrase = rng.choice(_END_PHRASES)
    return {"end_phrase": phrase}, (f'Finish your response with this exact phrase: "{phrase}" No other words '
                                    "should follow it.")


_CASE = frozenset({"startend:end_checker", "detectable_content:postscript"})
_QUOTE = frozenset({"startend:end_checker", "detectable_content:postscript", "detectable_format:number_bullet_lists",
                    "length_constraints:number_paragraphs", "detectable_format:title"})
INSTRUCTIONS: tuple[Instruction, ...] = (
    Instruction("length_constraints:number_words", "length", _words),
    Instruction("length_constraints:number_paragraphs", "length", _paragraphs,
                frozenset({"detectable_format:number_bullet_lists", "startend:quotation"})),
    Instruction("keywords:existence", "keywords", _existence),
    Instruction("keywords:forbidden_words", "keywords", _forbidden),
    Instruction("keywords:frequency", "keywords", _frequency),
    Instruction("change_case:english_lowercase", "case", _fixed(
        "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed."),
        _CASE),
    Instruction("change_case:english_capital", "case", _fixed(
        "Your entire response should be in English, and in all capital letters."), _CASE),
    Instruction("detectable_format:number_bullet_lists", "format", _bullets,
                frozenset({"length_constraints:number_paragraphs", "startend:quotation"})),
    Instruction("detectable_format:title", "format", _fixed(
        "Your answer must contain a title, wrapped in double angular brackets, such as <<a day at the sea>>."),
        frozenset({"startend:quotation"})),
    Instruction("detectable_format:json_format", "format", _fixed(
        "Wrap your entire output in JSON format. You can use markdown ticks such as ```."), frozenset({"*"})),
    Instruction("detectable_format:number_highlighted_sections", "format", _highlights),
    Instruction("detectable_content:postscript", "format", _postscript,
                _CASE | {"change_case:english_lowercase", "change_case:english_capital", "startend:quotation"}),
    Instruction("startend:end_checker", "startend", _end,
                frozenset({"detectable_content:postscript", "startend:quotation", "change_case:english_lowercase",
                           "change_case:english_capital"})),
    Instruction("startend:quotation", "startend", _fixed("Wrap your entire response with double quotation marks."),
                _QUOTE),
    Instruction("punctuation:no_comma", "punctuation", _fixed(
        "In your entire response, refrain from the use of any commas.")),
)
BY_ID = {i.id: i for i in INSTRUCTIONS}
FAMILIES = tuple(dict.fromkeys(i.family for i in INSTRUCTIONS))


def _compatible(a: Instruction, b: Instruction) -> bool:
    return a.family != b.family and not ({"*", b.id} & a.conflicts) and not ({"*", a.id} & b.conflicts)


def make_prompt(rng: random.Random, topic: Topic, family: str) -> tuple[str, list[dict[str, Any]]]:
    """The topic's request followed by one instruction of `family` and, half the time, one of another family:
    (prompt text, [{"id", "kwargs"}, …])."""
    first = rng.choice([i for i in INSTRUCTIONS if i.family == family])
    chosen = [first]
    if rng.random() < SECOND_INSTRUCTION_P:
        others = [i for i in INSTRUCTIONS if _compatible(first, i)]
        if others:
            chosen.append(rng.choice(others))
    texts, instructions = [topic[0]], []
    for instruction in chosen:
        kwargs, text = instruction.draw(rng, topic)
        texts.append(text)
        instructions.append({"id": instruction.id, "kwargs": kwargs})
    return " ".join(texts), instructions


def training_prompts(n: int, *, seed: int) -> list[dict[str, Any]]:
    """`n` plain-chat prompts at a training seed: {"id": f"{seed}:{i}", "prompt", "family", "instructions"}, where
    instructions are [{"id": if-verifiable instruction id, "kwargs": {…}}]. Families take turns, so every n >= 6
    covers all of them."""
    if not 0 <= seed < TRAINING_SEED_LIMIT:
        raise ValueError(f"plain-chat: seed {seed} is not a training seed (0 <= seed < {TRAINING_SEED_LIMIT:,})")
    if n < 0:
        raise ValueError(f"plain-chat: n must be >= 0, got {n}")
    rows = []
    for i in range(n):
        rng = random.Random(f"plain-chat:{seed}:{i}")
        family = FAMILIES[i % len(FAMILIES)]
        prompt, instructions = make_prompt(rng, rng.choice(TRAINING_TOPICS), family)
        rows.append({"id": f"{seed}:{i}", "prompt": prompt, "family": family, "instructions": instructions})
    return rows


# ---------------------------------------------------------------------------------------------------- checking

# Tool deliberation in an answer to a request that offers no tools ("I don't need to call a tool", "none of my
# functions"): the collapse issue #17 is about. The topics are chosen so that a right answer never needs these words.
TOOL_TALK = re.compile(r"(?i)<tool_call>|\btool_calls?\b|\b(?:tools?|functions?|function calls?)\b")


def tool_talk(answer: str) -> str | None:
    """The first tool-talk phrase in `answer`, or None."""
    found = TOOL_TALK.search(answer)
    return found.group(0) if found else None


@cache
def _registry() -> dict[str, Any]:
    if importlib.util.find_spec("if_verifiable") is None:
        raise IFVerifiableNotInstalledError(
            f"the instruction checkers need the if-verifiable package, which is not installed: {INSTALL_HINT}")
    import langdetect
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    langdetect.DetectorFactory.seed = 0  # the case checkers ask langdetect, which samples unless seeded
    return INSTRUCTION_DICT


def check(answer: str, instructions: Sequence[dict[str, Any]]) -> list[tuple[str, bool]]:
    """(instruction id, followed) per instruction, by if-verifiable's checkers in strict mode (the answer as it is).
    An empty answer follows none."""
    from if_verifiable.common import evaluate_instructions

    registry = _registry()
    unknown = [i["id"] for i in instructions if i["id"] not in registry]
    if unknown:
        raise ValueError(f"unknown if-verifiable instruction id {unknown[0]!r}")
    if not instructions:
        return []
    ids = [i["id"] for i in instructions]
    results, _ = evaluate_instructions(response=answer, instruction_id_list=ids,
                                       kwargs_list=[dict(i["kwargs"]) for i in instructions], prompt="",
                                       instruction_registry=registry)
    if not results:  # evaluate_instructions returns no results for an empty answer
        return [(i, False) for i in ids]
    return [(r.instruction_id, bool(r.strict_pass)) for r in results]


def verify(answer: str, instructions: Sequence[dict[str, Any]]) -> tuple[bool, str]:
    """Is `answer` (the reply's content, after any thinking) a plain-chat answer that follows every instruction?
    (ok, detail); a failed detail starts with "empty answer", "tool talk" or "not followed"."""
    if not answer.strip():
        return False, "empty answer"
    talk = tool_talk(answer)
    if talk:
        return False, f"tool talk: {talk!r} in an answer where no tool is offered"
    failed = [i for i, ok in check(answer, instructions) if not ok]
    if failed:
        return False, f"not followed: {', '.join(failed)}"
    return True, f"{len(instructions)} instruction{'s' if len(instructions) != 1 else ''} followed"
