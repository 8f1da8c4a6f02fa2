"""Terminal rendering of a chat session with rich: thinking dimmed, answers streamed, tools as panels.

`show_events` renders one turn (with `steps=True`, as the agent shows it: a rule before each model step);
`interactive` is the read-a-line loop of `smolthink chat` and `smolthink agent`, with its slash commands.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

from smolthink.chat.session import STEP_LIMIT, ChatSession, Event

THINK_STYLE = "dim italic"
SLASH_COMMANDS = {
    "/think": "think before answering, from the next turn on",
    "/no_think": "answer without thinking, from the next turn on",
    "/reset": "clear the conversation",
    "/help": "list these commands",
    "/exit": "quit (also /quit or Ctrl-D)",
}


def show_events(events: Iterable[Event], console: Console, *, steps: bool = False) -> dict:
    """Print a turn's events as they arrive; returns the final assistant message.

    With `steps`, each model turn of the tool loop starts with a "step N" rule, and a turn stopped at the round
    limit says so as the agent's step limit.
    """
    state = None  # what is being streamed now: "reasoning" / "content" / None
    final: dict = {}
    for event in events:
        if event.kind == "step":
            if steps:
                if state is not None:
                    console.print()
                    state = None
                console.print(Rule(f"step {event.data}", style="dim", align="left"))
            continue
        if event.kind in ("reasoning", "content"):
            text = event.text
            if state != event.kind:
                text = text.lstrip("\n")  # the template puts newlines around <think> blocks
                if not text.strip():
                    continue
                if state is not None:
                    console.print()
                label = "thinking… " if event.kind == "reasoning" else ""
                console.print(Text(label, style=THINK_STYLE if label else ""), end="")
                state = event.kind
            console.print(Text(text, style=THINK_STYLE if event.kind == "reasoning" else ""), end="", soft_wrap=True)
            continue
        if state is not None:
            console.print()
            state = None
        if event.kind == "tool_call":
            fn = event.data["function"]
            args = json.dumps(fn["arguments"], ensure_ascii=False)
            console.print(Panel(Text(f"{fn['name']}({args})"), title="tool call", border_style="cyan", expand=False))
        elif event.kind == "tool_result":
            result = event.data
            body = result.content if len(result.content) <= 800 else result.content[:800] + " …"
            console.print(
                Panel(Text(body), title=f"{result.name} → result", border_style="green" if result.ok else "red", expand=False)
            )
        elif event.kind == "warning":
            at_limit = steps and event.data == STEP_LIMIT
            hint = "; that is the step limit (raise --max-steps to allow more)" if at_limit else ""
            console.print(Text(f"⚠ {event.text}{hint}", style="yellow"))
        elif event.kind == "message":
            final = event.data
    if state is not None:
        console.print()
    return final


def interactive(session: ChatSession, console: Console, *, steps: bool = False, intro: str | None = None) -> None:
    """The `smolthink chat` (and `agent`) loop: read a line, stream the answer; slash commands in SLASH_COMMANDS."""
    intro = intro or "Type a message."
    console.print(Text(f"{intro} /help lists the commands, /exit quits.", style="dim"))
    system = [m for m in session.messages if m["role"] == "system"]
    while True:
        try:
            line = console.input("[bold green]you ›[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        line = line.strip()
        if not line:
            continue
        if line in ("/exit", "/quit"):
            return
        if line == "/reset":
            session.messages = list(system)
            console.print(Text("(conversation cleared)", style="dim"))
            continue
        if line == "/help":
            for command, meaning in SLASH_COMMANDS.items():
                console.print(Text.assemble((f"{command:<10}", "bold"), meaning))
            continue
        if line in ("/think", "/no_think"):
            session.think = line == "/think"
            console.print(Text(f"(thinking {'on' if session.think else 'off'} from the next turn)", style="dim"))
            flag = _system_flag(session)
            if flag is not None and flag != line:
                console.print(Text(f"⚠ the system prompt says {flag}, which the chat template obeys over this switch",
                                   style="yellow"))
            continue
        if line.startswith("/") and line[1:].isidentifier():
            console.print(Text(f"unknown command {line}; /help lists the commands", style="yellow"))
            continue
        console.print(Text("smolthink ›", style="bold magenta"))
        try:
            show_events(session.send(line), console, steps=steps)
        except KeyboardInterrupt:
            console.print(Text("\n(interrupted)", style="yellow"))


def _system_flag(session: ChatSession) -> str | None:
    """The mode flag in the system prompt, as the chat template reads it ("/no_think" is checked first)."""
    system = " ".join(m.get("content") or "" for m in session.messages if m["role"] == "system")
    return "/no_think" if "/no_think" in system else "/think" if "/think" in system else None
