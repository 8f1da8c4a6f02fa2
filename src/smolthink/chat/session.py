"""The chat session and its tool loop: generate → parse tool calls → run them → feed results back → answer.

Everything that happens is appended to `session.messages` in smolthink's conversation schema, so a session
can be printed, saved as JSON, or used as training data. `send` yields `Event`s while it works, which is what
the terminal UI (and later the server) renders: a `step` as each model turn starts (the agent shows them),
reasoning and answer text as it streams, tool calls and their results as they happen, and the finished
assistant message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from smolthink.backends import GenerationConfig, render_prompt
from smolthink.formats import (
    StreamSplitter,
    generation_prefix,
    neutralize_control_tokens,
    parse_assistant,
)
from smolthink.tools import Tool, ToolResult, run_tool_call

EventKind = Literal["step", "reasoning", "content", "tool_call", "tool_result", "warning", "message"]
STEP_LIMIT = "step_limit"  # the data of the warning that the turn stopped at max_rounds


@dataclass
class Event:
    kind: EventKind
    text: str = ""
    # step: the model turn's number (1 for the first); tool_call: the call dict; tool_result: ToolResult;
    # message: the assistant message; warning: STEP_LIMIT when the turn stopped at the round limit
    data: Any = None


class ChatSession:
    """A conversation with one model and a set of tools.

    `think` is the default mode; "/think" or "/no_think" in the system prompt overrides it (SmolLM3 semantics,
    implemented by the chat template). `max_rounds` bounds how many times tool results are fed back before the
    session stops asking the model for more calls.
    """

    def __init__(
        self,
        backend: Any,
        tools: Sequence[Tool] = (),
        *,
        system: str | None = None,
        think: bool = True,
        max_rounds: int = 4,
        gen: GenerationConfig | None = None,
    ):
        self.backend = backend
        self.tools = list(tools)
        self.think = think
        self.max_rounds = max_rounds
        self.gen = gen or GenerationConfig()
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []

    @property
    def tool_schemas(self) -> list[dict[str, Any]]:
        return [t.schema for t in self.tools]

    def prompt(self) -> str:
        return render_prompt(self.backend, self.messages, self.tool_schemas, enable_thinking=self.think)

    def ask(self, user_text: str) -> dict[str, Any]:
        """Run one user turn to completion without streaming; returns the final assistant message."""
        final: dict[str, Any] = {}
        for event in self.send(user_text):
            if event.kind == "message":
                final = event.data
        return final

    def send(self, user_text: str) -> Iterator[Event]:
        """Add a user message and run the model (and its tool calls) until it answers."""
        self.messages.append({"role": "user", "content": user_text})
        yield from self.respond()

    def respond(self) -> Iterator[Event]:
        """Run the model on the conversation as it stands (e.g. after tool results were appended by hand)."""
        for round_ in range(self.max_rounds + 1):
            yield Event("step", data=round_ + 1)
            prompt = self.prompt()
            prefix = generation_prefix(prompt)
            splitter = StreamSplitter()
            splitter.feed(prefix)  # puts the splitter in the pre-filled state; the prefix itself is not shown
            text = prefix
            for chunk in self.backend.stream(prompt, self.gen):
                text += chunk
                for kind, piece in splitter.feed(chunk):
                    if kind != "tool_call":  # raw call text is shown as a parsed panel instead
                        yield Event(kind, piece)
            for kind, piece in splitter.flush():
                if kind != "tool_call":
                    yield Event(kind, piece)

            parsed = parse_assistant(text)
            message = parsed.message()
            self.messages.append(message)
            for problem in parsed.errors:
                yield Event("warning", problem)
            last_round = round_ == self.max_rounds
            if parsed.call_errors and not parsed.tool_calls and not last_round:
                # Tell the model what was wrong instead of giving up on the turn: it gets another round.
                for problem in parsed.call_errors:
                    yield Event("warning", problem)
                    self.add_tool_result(ToolResult(name="tool_call_parser", content=f"error: {problem}", ok=False))
                continue
            if not parsed.tool_calls:
                yield Event("message", data=message)
                return
            if last_round:
                yield Event("warning", f"stopped after {self.max_rounds} tool rounds; the model kept calling tools",
                            data=STEP_LIMIT)
                yield Event("message", data=message)
                return
            for problem in parsed.call_errors:
                yield Event("warning", problem)
            for call in parsed.tool_calls:
                fn = call["function"]
                yield Event("tool_call", data=call)
                result = run_tool_call(self.tools, fn["name"], fn["arguments"])
                self.add_tool_result(result)
                yield Event("tool_result", data=result)

    def add_tool_result(self, result: ToolResult) -> None:
        """Append a tool result to the conversation as the model will see it, control strings escaped."""
        # run_tool_call's results are escaped already (escaping is idempotent); results built by hand are not,
        # e.g. the parser's errors, which quote the model's malformed <tool_call> back to it.
        self.messages.append(
            {
                "role": "tool",
                "name": neutralize_control_tokens(result.name),
                "content": neutralize_control_tokens(result.content),
            }
        )
