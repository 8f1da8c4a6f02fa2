"""The ifeval suite: does the model still answer everyday chat as chat, and follow simple verifiable instructions?

Issue #17: a tuned model answered "Write one sentence about why the sky is blue" with tool-deliberation text. Each
case is an everyday request from `TOPICS` (never one of the training topics, `data.sources.plain_chat`), no tools
on offer, and

- one or two IFEval instructions (`plain_chat.INSTRUCTIONS`: word and paragraph counts, keywords to include or
  avoid, lowercase/capitals, bullet points, a <<title>>, JSON, highlights, a P.S., an end phrase, quotation marks,
  no commas), checked by if-verifiable's checkers in strict mode. Categories by the first instruction's family:
  "ifeval/length", "ifeval/keywords", "ifeval/case", "ifeval/format", "ifeval/startend", "ifeval/punctuation".
  Correct when every instruction is followed; the score is the fraction followed.
- or none ("ifeval/no_tool_talk"): the request alone, correct when the reply makes no tool call, its answer does
  not talk about tools or functions, and it is not empty; the score is the fraction of these three checks passed.

The answer is the parsed content after </think>. Messages hold the user turn only, as in the compliance and
reasoning suites (the chat template adds its default system prompt when no tools are offered). Cases are always
rendered in no-think mode, whatever `enable_thinking` says: the untuned base model never closes a <think> block,
so in think mode this suite would measure the think format (the compliance suite's job), not whether everyday
requests are answered as asked.

Seeds: case i of a category at seed s is drawn from random.Random(f"ifeval:{s}:{category}:{i}"); test at
IFEVAL_SEED (7_400_000), dev at IFEVAL_SEED + reasoning.DEV_SEED_OFFSET (7_450_000), training below 1_000_000. A
split holds no prompt twice, and dev none of test's. Case ids: f"{category}/{seed}:{i}".
"""

from __future__ import annotations

import random
from typing import Any

from smolthink.data.sources import plain_chat
from smolthink.eval.cases import Case, Scored, check_split
from smolthink.formats import ParsedOutput

SUITE = "ifeval"
IFEVAL_SEED = 7_400_000
DEFAULT_LIMIT = 25  # cases per category
TEST_POOL = 200  # test prompts per category kept out of dev
CATEGORIES = tuple(f"ifeval/{f}" for f in plain_chat.FAMILIES) + ("ifeval/no_tool_talk",)
# no_tool_talk asks the request alone or with a light, unchecked style line
_STYLES = ("", "Keep it short.", "Explain it simply.", "Answer in a friendly tone.", "Answer in a few sentences.")

TOPICS: tuple[plain_chat.Topic, ...] = (
    ("Write one sentence about why the sky is blue.", ("sunlight", "scatter"), "color"),
    ("Explain why the sky is blue.", ("sunlight", "scatter"), "color"),
    ("Give me tips for a job interview.", ("prepare", "questions"), "nervous"),
    ("Describe a cat.", ("fur", "whiskers"), "dog"),
    ("Explain how rainbows form.", ("light", "water"), "magic"),
    ("Why do leaves change color in autumn?", ("chlorophyll", "yellow"), "winter"),
    ("Give advice for someone learning to cook.", ("recipe", "practice"), "restaurant"),
    ("Describe a sunset at the beach.", ("orange", "waves"), "night"),
    ("Explain why we need sleep.", ("brain", "rest"), "coffee"),
    ("Suggest ways to save money each month.", ("budget", "spending"), "loan"),
    ("Describe your ideal weekend.", ("morning", "friends"), "work"),
    ("Explain how bees make honey.", ("nectar", "hive"), "sugar"),
    ("Give tips for staying focused while studying.", ("break", "phone"), "music"),
    ("Describe a busy city street.", ("cars", "people"), "quiet"),
    ("Why is exercise good for you?", ("heart", "energy"), "gym"),
    ("Explain what causes the seasons.", ("tilt", "sun"), "distance"),
    ("Describe a thunderstorm.", ("lightning", "rain"), "sunny"),
    ("Give advice for a first day at a new school.", ("teacher", "smile"), "homework"),
    ("Explain how a seed grows into a plant.", ("roots", "sunlight"), "flower"),
    ("Describe the taste of a lemon.", ("sour", "juice"), "sweet"),
    ("Why do people keep dogs as pets?", ("loyal", "walk"), "cat"),
    ("Give tips for writing a good email.", ("subject", "clear"), "emoji"),
    ("Explain why the ocean is salty.", ("minerals", "rivers"), "fish"),
    ("Describe a winter morning.", ("snow", "cold"), "summer"),
    ("Suggest a healthy breakfast.", ("fruit", "protein"), "sugar"),
    ("Explain how the moon affects the tides.", ("gravity", "ocean"), "wind"),
    ("Describe an old library.", ("books", "quiet"), "computer"),
    ("Give advice for making new friends.", ("listen", "interests"), "online"),
    ("Explain why plants need water.", ("cells", "nutrients"), "soil"),
    ("Describe a walk in the forest.", ("trees", "birds"), "city"),
    ("Why do we have time zones?", ("earth", "sun"), "clock"),
    ("Give tips for a long car trip.", ("snacks", "rest"), "plane"),
    ("Explain why ice floats on water.", ("density", "molecules"), "cold"),
    ("Describe a birthday party.", ("cake", "friends"), "gift"),
    ("Explain why reading is good for children.", ("vocabulary", "imagination"), "television"),
    ("Describe the sound of rain on a roof.", ("rhythm", "drops"), "loud"),
    ("Give advice for keeping a houseplant alive.", ("light", "water"), "fertilizer"),
    ("Explain why stars twinkle.", ("atmosphere", "light"), "planet"),
    ("Describe a cup of hot chocolate.", ("warm", "sweet"), "coffee"),
    ("Suggest ways to reduce stress.", ("breathe", "sleep"), "work"),
    ("Explain how volcanoes erupt.", ("magma", "pressure"), "fire"),
    ("Describe a farmers market.", ("vegetables", "local"), "supermarket"),
    ("Why should people recycle?", ("waste", "resources"), "money"),
    ("Give tips for learning a new language.", ("practice", "words"), "app"),
    ("Explain why the sun rises in the east.", ("rotation", "earth"), "west"),
    ("Describe a lighthouse.", ("light", "ships"), "beach"),
    ("Give advice for running your first race.", ("pace", "training"), "win"),
    ("Explain why bread rises.", ("yeast", "gas"), "oven"),
    ("Describe a snowy mountain.", ("peak", "snow"), "summer"),
    ("Why do cats purr?", ("content", "vibration"), "dog"),
    ("Give tips for a good night's sleep.", ("screen", "bedtime"), "coffee"),
    ("Explain what clouds are made of.", ("water", "droplets"), "smoke"),
    ("Describe a garden in spring.", ("flowers", "green"), "winter"),
    ("Explain why we should drink enough water.", ("body", "hydrated"), "soda"),
    ("Describe a train journey.", ("window", "station"), "car"),
    ("Give advice for giving a speech.", ("audience", "practice"), "notes"),
    ("Explain how birds fly.", ("wings", "air"), "plane"),
    ("Describe a rainy afternoon at home.", ("window", "tea"), "sunny"),
    ("Why can we sometimes see the moon during the day?", ("sunlight", "reflect"), "night"),
    ("Give tips for keeping a room tidy.", ("clutter", "habit"), "mess"),
    ("Explain why apples turn brown after cutting.", ("oxygen", "enzyme"), "old"),
    ("Describe an owl.", ("feathers", "night"), "day"),
    ("Explain why we see lightning before we hear thunder.", ("sound", "light"), "rain"),
    ("Give advice for a picnic in the park.", ("blanket", "food"), "rain"),
    ("Describe a bakery in the morning.", ("bread", "smell"), "night"),
    ("Tell me about the planet Mars.", ("red", "rover"), "earth"),
)


def _prompt(category: str, seed: int, i: int) -> tuple[str, dict[str, Any]]:
    rng = random.Random(f"ifeval:{seed}:{category}:{i}")
    topic = rng.choice(TOPICS)
    meta: dict[str, Any] = {"topic": topic[0], "seed": seed, "index": i}
    if category == "ifeval/no_tool_talk":
        return " ".join(filter(None, (topic[0], rng.choice(_STYLES)))), {**meta, "instructions": []}
    text, instructions = plain_chat.make_prompt(rng, topic, category.removeprefix("ifeval/"))
    return text, {**meta, "instructions": instructions}


def _held_out(category: str, limit: int, seed: int,
              exclude: frozenset[str] = frozenset()) -> list[tuple[int, str, dict]]:
    """The first `limit` distinct prompts of a category at `seed` that `exclude` does not hold: (i, text, meta)."""
    out, seen = [], set(exclude)
    for i in range(limit * 20 + 50):
        if len(out) == limit:
            return out
        text, meta = _prompt(category, seed, i)
        if text not in seen:
            seen.add(text)
            out.append((i, text, meta))
    if len(out) < limit:
        raise ValueError(f"{category}: only {len(out)} distinct prompts at seed {seed}, asked for {limit}")
    return out


def load_cases(*, limit: int | None = None, split: str = "test", enable_thinking: bool = True,
               seed: int = IFEVAL_SEED) -> list[Case]:
    """`limit` cases per category and split (default 25): "test" (prompts at `seed`), "dev" (at seed +
    DEV_SEED_OFFSET, none of test's prompts) or "all" (dev, then test, per category)."""
    from smolthink.eval.reasoning import DEV_SEED_OFFSET, TRAINING_SEED_LIMIT

    limit = DEFAULT_LIMIT if limit is None else limit
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if seed < TRAINING_SEED_LIMIT:
        raise ValueError(f"eval seed {seed} is in the training range (< {TRAINING_SEED_LIMIT})")
    splits = ["dev", "test"] if check_split(split) == "all" else [split]
    cases = []
    for category in CATEGORIES:
        for part in splits:
            if part == "dev":
                test_prompts = frozenset(t for _, t, _ in _held_out(category, TEST_POOL, seed))
                items = _held_out(category, limit, seed + DEV_SEED_OFFSET, exclude=test_prompts)
            else:
                items = _held_out(category, limit, seed)
            for i, text, meta in items:
                cases.append(Case(suite=SUITE, category=category, id=f"{category}/{meta['seed']}:{i}",
                                  messages=[{"role": "user", "content": text}], enable_thinking=False,
                                  meta=meta))
    return cases


def split_size(split: str) -> int:
    """Cases per category in a whole split (what `load_cases` gives without a limit)."""
    return DEFAULT_LIMIT * (2 if check_split(split) == "all" else 1)


def eval_prompts(seed: int = IFEVAL_SEED, items: int = 1000) -> frozenset[str]:
    """The prompt texts of the first `items` items of every category at the test and dev seeds (a superset of what
    load_cases asks at limits up to ~50): what a training prompt must never be."""
    from smolthink.eval.reasoning import DEV_SEED_OFFSET

    return frozenset(_prompt(category, s, i)[0] for category in CATEGORIES for s in (seed, seed + DEV_SEED_OFFSET)
                     for i in range(items))


def score(case: Case, parsed: ParsedOutput) -> Scored:
    answer = parsed.content or ""
    instructions = case.meta["instructions"]
    if not instructions:  # no_tool_talk
        talk = plain_chat.tool_talk(answer)
        problems = [p for p, bad in (("tool call", bool(parsed.tool_calls)), (f"tool talk: {talk!r}", bool(talk)),
                                     ("empty answer", not answer.strip())) if bad]
        return Scored(case.id, case.category, not problems, round(1 - len(problems) / 3, 4), "; ".join(problems))
    results = plain_chat.check(answer, instructions)
    failed = [i for i, ok in results if not ok]
    detail = f"not followed: {', '.join(failed)}" if failed else ""
    if parsed.tool_calls:
        detail = "; ".join(filter(None, ("tool call where no tool is offered", detail)))
    followed = len(results) - len(failed)
    return Scored(case.id, case.category, not failed, round(followed / len(results), 4), detail)
