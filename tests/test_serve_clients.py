"""Agent frameworks against `smolthink serve` on 127.0.0.1 (issue #19): smolagents' ToolCallingAgent through its
OpenAI-compatible model class, running a real tool to the end, and LangChain's ChatOpenAI with bound tools, both
plain and streamed. A scripted backend plays the model, so the conversation is exact; each framework's own
requests (tool_choice "required", stream_options, parallel_tool_calls…) reach the real server code."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from test_serve import ScriptedBackend, serving

from smolthink.backends import GenerationConfig
from smolthink.serve import create_app

smolagents = pytest.importorskip("smolagents")
langchain_openai = pytest.importorskip("langchain_openai")

RESULT = "(tool output)"  # only the tools write this: the model sees it once a tool has run


def call(name: str, arguments: dict) -> str:
    return f"</think>\n\n<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


class AgentBackend(ScriptedBackend):
    """Calls the offered weather tool first; once its result is in the prompt (a tool message for LangChain, an
    "Observation:" user message for smolagents), calls `final_answer` (smolagents' way to finish) with it, or
    answers in text when no such tool is offered (LangChain)."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict] = []

    def stream(self, prompt: str, gen: GenerationConfig, cancel: threading.Event | None = None) -> Iterator[str]:
        if RESULT not in prompt:
            self.script = call("get_weather", {"city": "Paris"})
        elif '"final_answer"' in prompt:
            self.script = call("final_answer", {"answer": "Sunny, 21 C in Paris."})
        else:
            self.script = "</think>\n\nSunny, 21 C in Paris."
        return super().stream(prompt, gen, cancel)


@pytest.fixture
def agent_server() -> Iterator[tuple[str, AgentBackend]]:
    backend = AgentBackend()
    app = create_app(backend, model_name="smolthink")

    @app.middleware("http")
    async def record(request, call_next):  # what each framework sends, for the assertions on its fields
        body = await request.body()
        if body:
            backend.bodies.append(json.loads(body))
        return await call_next(request)

    with serving(app) as url:
        yield url + "/v1", backend


def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: The city's name.
    """
    return f"Sunny, 21 C in {city} {RESULT}."


@pytest.mark.parametrize("stream", [False, True])
def test_smolagents_tool_calling_agent_runs_a_tool_to_the_end(agent_server, stream):
    url, backend = agent_server
    model = smolagents.OpenAIServerModel(model_id="smolthink", api_base=url, api_key="none")
    agent = smolagents.ToolCallingAgent(tools=[smolagents.tool(get_weather)], model=model, max_steps=4,
                                        stream_outputs=stream, verbosity_level=0)
    answer = agent.run("What is the weather in Paris?")
    assert answer == "Sunny, 21 C in Paris."
    # the real tool ran, with the model's arguments, and its output came back to the model
    assert f"Sunny, 21 C in Paris {RESULT}." in backend.prompts[1] and len(backend.prompts) == 2
    assert all(b["tool_choice"] == "required" for b in backend.bodies)  # smolagents' default, now honoured
    assert all(b.get("stream", False) == stream for b in backend.bodies)


WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.mark.parametrize("stream", [False, True])
def test_langchain_bind_tools_returns_a_parsed_tool_call(agent_server, stream):
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool as lc_tool

    url, backend = agent_server

    @lc_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        return f"Sunny, 21 C in {city} {RESULT}."

    llm = langchain_openai.ChatOpenAI(model="smolthink", base_url=url, api_key="none", max_retries=0,
                                      streaming=stream).bind_tools([get_weather])
    messages = [HumanMessage("What is the weather in Paris?")]
    if stream:
        reply = None
        for chunk in llm.stream(messages):
            reply = chunk if reply is None else reply + chunk
    else:
        reply = llm.invoke(messages)
    (tc,) = reply.tool_calls
    assert tc["name"] == "get_weather" and tc["args"] == {"city": "Paris"} and tc["id"].startswith("call_")
    assert reply.response_metadata.get("finish_reason") == "tool_calls"
    # …and the tool's result goes back for the answer
    messages += [reply, ToolMessage(get_weather.invoke(tc["args"]), tool_call_id=tc["id"])]
    final = llm.invoke(messages)
    assert final.content == "Sunny, 21 C in Paris." and not final.tool_calls
    if stream:
        assert backend.bodies[0]["stream"] is True


@pytest.mark.slow
def test_smolagents_on_the_untuned_model_always_gets_valid_calls():
    """tool_choice "required" (smolagents' default) by grammar: the untuned embedded model's every step is a
    call smolagents can run, never a parsing error (it may well never finish: it is untuned)."""
    from test_serve import BatchedLlamaBackend, embedded_f16_gguf

    backend = BatchedLlamaBackend(embedded_f16_gguf(), n_ctx=4096, parallel=1, n_threads=1, thinks=False)
    with serving(create_app(backend, model_name="smollm2-135m")) as url:
        model = smolagents.OpenAIServerModel(model_id="smollm2-135m", api_base=url + "/v1", api_key="none",
                                             client_kwargs={"timeout": 300, "max_retries": 0})
        agent = smolagents.ToolCallingAgent(tools=[smolagents.tool(get_weather)], model=model, max_steps=3,
                                            verbosity_level=0)
        agent.run("What is the weather in Paris?")
    steps = [s for s in agent.memory.steps if isinstance(s, smolagents.memory.ActionStep)
             and not isinstance(s.error, smolagents.utils.AgentMaxStepsError)]
    assert len(steps) >= 1 and all(s.error is None and s.tool_calls for s in steps), [s.error for s in steps]
