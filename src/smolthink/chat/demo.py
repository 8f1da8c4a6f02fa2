"""`smolthink demo`: the main job on the embedded default model, printed for a newcomer.

Three short exchanges show the whole inference side: a thinking answer, the same question in no_think mode,
and a tool-calling exchange in which the model may search a bundled folder of documents (local_search) or use
the calculator (and the user's own functions, with `--tools-file`). What the model does is shown as it is; the
base 135M model is small, and teaching it to think and call tools well is what `smolthink train` is for.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import resources

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from smolthink.backends import GenerationConfig, load_backend
from smolthink.chat.session import ChatSession, Event
from smolthink.chat.ui import show_events
from smolthink.formats import tool_call
from smolthink.models import ModelError
from smolthink.tools import Tool, builtin_tools, run_tool_call

EXCHANGES = [
    ("think", "Think mode", "If I buy 3 apples at 2 euros each and a loaf of bread for 4 euros, how much do I pay?", ()),
    ("no_think", "No-think mode (same question)", "If I buy 3 apples at 2 euros each and a loaf of bread for 4 euros, how much do I pay?", ()),
    ("think", "Tool calling (local_search over bundled docs, calculator)", "When was the Tern Island lighthouse first lit?", ("local_search", "calculator")),
]


def demo_docs_dir():
    return resources.files("smolthink").joinpath("demo_docs")


def run_demo(
    console: Console, *, model: str | None, backend: str, max_new_tokens: int, fail, own_tools: Sequence[Tool] = ()
) -> None:
    """Run the exchanges; `own_tools` (loaded from the user's --tools-file) are offered in the tool-calling one."""
    console.print(Rule("smolthink demo"))
    try:
        with console.status("loading the model (the first run converts the embedded GGUF once)…"):
            engine = load_backend(model, backend, progress=lambda msg: console.print(Text(msg, style="dim")))
    except (ModelError, ValueError, FileNotFoundError) as e:
        fail(str(e))
    console.print(Text(f"model: {model or 'smollm2-135m'} · backend: {engine.name}", style="dim"))
    rows = []
    for mode, title, question, tool_names in EXCHANGES:
        tools = builtin_tools(list(tool_names), docs_dir=str(demo_docs_dir())) if tool_names else []
        if tool_names:
            tools += own_tools
        session = ChatSession(
            engine, tools, think=(mode == "think"), max_rounds=2, gen=GenerationConfig(max_new_tokens=max_new_tokens)
        )
        console.print(Rule(title, style="cyan"))
        if tool_names and own_tools:
            console.print(Text(f"your tools are offered too: {', '.join(t.name for t in own_tools)}", style="dim"))
        console.print(Text(f"you › {question}", style="bold green"))
        started = time.perf_counter()
        show_events(session.send(question), console)
        calls = sum(len(m.get("tool_calls") or []) for m in session.messages if m["role"] == "assistant")
        if tool_names and not calls:
            console.print(Text("(the untuned model answered without calling a tool: teaching it to is what training is for)", style="dim"))
        rows.append((title, f"{time.perf_counter() - started:.1f}", str(calls), f"{engine.stats.decode_tokens_per_s:.0f}"))

    # The second half of the tool loop, shown on its own: a local_search call is made for the question, its
    # result is fed back, and the model answers from the document rather than from memory.
    title, question = "Answering from a tool result (local_search call made for the model)", EXCHANGES[2][2]
    tools = builtin_tools(["local_search"], docs_dir=str(demo_docs_dir()))
    session = ChatSession(engine, tools, think=False, gen=GenerationConfig(max_new_tokens=max_new_tokens))
    console.print(Rule(title, style="cyan"))
    console.print(Text(f"you › {question}", style="bold green"))
    started = time.perf_counter()
    call = tool_call("local_search", {"query": question})
    result = run_tool_call(tools, "local_search", call["function"]["arguments"])
    session.messages = [{"role": "user", "content": question}, {"role": "assistant", "content": "", "tool_calls": [call]}]
    session.add_tool_result(result)
    show_events([Event("tool_call", data=call), Event("tool_result", data=result), *session.respond()], console)
    rows.append((title, f"{time.perf_counter() - started:.1f}", "1", f"{engine.stats.decode_tokens_per_s:.0f}"))
    table = Table(title="demo summary")
    for col in ("exchange", "seconds", "tool calls", "decode tok/s (last turn)"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(Text("Next: `smolthink chat` to talk to it, `smolthink ask --help` for scripting.", style="dim"))


# ------------------------------------------------------------------------------------- base vs tuned, side by side

COMPARE = [  # (title, question, tools, think, answer from a local_search result made for the model)
    ("thinking", EXCHANGES[0][2], (), True, False),
    ("a tool call", EXCHANGES[2][2], ("local_search", "calculator"), True, False),
    ("an answer from a search result", EXCHANGES[2][2], ("local_search",), False, True),
]


def _clip(text: str, words: int = 45) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def _exchange(engine, title_question_tools, max_new_tokens: int) -> Text:
    """One COMPARE exchange on one model, as a cell: the reasoning (dim), each tool call and the answer."""
    _, question, tool_names, think, from_result = title_question_tools
    tools = builtin_tools(list(tool_names), docs_dir=str(demo_docs_dir()))
    session = ChatSession(engine, tools, think=think, max_rounds=1, gen=GenerationConfig(max_new_tokens=max_new_tokens))
    if from_result:
        call = tool_call("local_search", {"query": question})
        result = run_tool_call(tools, "local_search", call["function"]["arguments"])
        session.messages = [{"role": "user", "content": question},
                            {"role": "assistant", "content": "", "tool_calls": [call]}]
        session.add_tool_result(result)
        new = len(session.messages)
        list(session.respond())
    else:
        new = 0
        session.ask(question)
    cell = Text()
    for message in session.messages[new:]:
        if message["role"] != "assistant":
            continue
        if message.get("reasoning"):
            cell.append(f"thinking: {_clip(message['reasoning'])}\n", style="dim italic")
        for call in message.get("tool_calls") or []:
            fn = call["function"]
            cell.append(f"→ {fn['name']}({_clip(str(fn['arguments']), 20)})\n", style="bold magenta")
        if message.get("content"):
            cell.append(_clip(message["content"], 60) + "\n")
    if not cell.plain.strip():
        cell.append("(nothing)", style="dim")
    return cell


def run_comparison(console: Console, *, base: str | None, tuned: str, backend: str, max_new_tokens: int, fail) -> None:
    """The same prompts answered by `base` and `tuned`, side by side: a thinking answer, a tool call over the bundled
    documents, and an answer written from a local_search result."""
    columns: dict[str, list[Text]] = {}
    for ref in (base, tuned):
        name = ref or "smollm2-135m"
        try:
            with console.status(f"loading {name}…"):
                engine = load_backend(ref, backend, progress=lambda msg: console.print(Text(msg, style="dim")))
        except (ModelError, ValueError, FileNotFoundError) as e:
            fail(str(e))
        with console.status(f"{name} answers the demo prompts…"):
            columns[name] = [_exchange(engine, exchange, max_new_tokens) for exchange in COMPARE]
        del engine
    table = Table(title="the same prompts, base vs tuned", show_lines=True, expand=True)
    table.add_column("prompt", ratio=1)
    for name in columns:
        table.add_column(name, ratio=2)
    for i, (title, question, *_rest) in enumerate(COMPARE):
        table.add_row(Text(f"{title}\n", style="bold") + Text(question, style="green"),
                      *(cells[i] for cells in columns.values()))
    console.print(table)
