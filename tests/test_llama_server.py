"""An exported GGUF in llama.cpp's own llama-server (issue #20): the proof that the file works outside smolthink.

llama-server (built by `make setup`, see smolthink.llama_server) is started on 127.0.0.1 by the fixtures and stopped
by its PID. With `--jinja` its own Jinja engine renders the template that `smolthink export` put in the file, and
its own parsers turn the model's `<think>` block and `<tool_call>` blocks into the OpenAI fields `reasoning_content`
and `tool_calls`: nothing of smolthink runs on the server side.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from smolthink.export import export_model
from smolthink.formats import (
    CALL_OPEN,
    THINK_CLOSE,
    THINK_OPEN,
    parse_assistant,
    render,
)
from smolthink.llama_server import binary_path, running
from smolthink.tools import builtin_tools, validate_arguments

pytestmark = pytest.mark.skipif(not binary_path().is_file(),
                                reason=f"no llama-server at {binary_path()}: `make setup` builds it")

# The calculator's schema as an OpenAI client sends it: name, description, parameters (no transformers "return").
CALCULATOR = {"type": "function", "function": {
    k: v for k, v in builtin_tools(["calculator"])[0].schema["function"].items() if k != "return"}}
# Everything the template renders: a system prompt, the tools, a call with its reasoning, the tool's result, an
# answer with its reasoning (history), and a new question.
CONVERSATION = [
    {"role": "system", "content": "You are a careful assistant."},
    {"role": "user", "content": "What is 17 * 23?"},
    {"role": "assistant", "content": "", "reasoning_content": "Multiplication: the calculator is exact.",
     "tool_calls": [{"id": "call_0", "type": "function",
                     "function": {"name": "calculator", "arguments": json.dumps({"expression": "17 * 23"})}}]},
    {"role": "tool", "tool_call_id": "call_0", "content": "391"},
    {"role": "assistant", "content": "17 * 23 = 391.", "reasoning_content": "The tool says 391."},
    {"role": "user", "content": "And 391 / 17?"},
]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The embedded SmolLM2-135M-Instruct exported by `smolthink export` (f16, smolthink's chat template)."""
    return export_model("smollm2-135m", "gguf", "f16", tmp_path_factory.mktemp("llama-server") / "smollm2.gguf")


@pytest.fixture(scope="module")
def server(exported) -> Iterator[str]:
    with running(exported, ["--ctx-size", "4096", "--threads", "1"]) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("think", [True, False])
def test_its_jinja_engine_renders_what_smolthink_renders(server, think):
    """llama-server's /apply-template (its Jinja engine, the OpenAI request as a client sends it) gives the same bytes
    as smolthink's inference prompt for the same conversation, in think and no-think mode."""
    body = {"messages": CONVERSATION, "tools": [CALCULATOR], "chat_template_kwargs": {"enable_thinking": think}}
    prompt = post(server + "/apply-template", body)["prompt"]
    expected = render(CONVERSATION, [CALCULATOR], enable_thinking=think, add_generation_prompt=True)
    assert prompt == expected
    assert prompt.endswith("<|im_start|>assistant\n<think>\n" if think else "<think>\n\n</think>\n\n")


@pytest.fixture(scope="module")
def client(server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=server + "/v1", api_key="unused", timeout=300)


# A tool whose arguments the grammar pins down completely (an enum), so the call that comes back is checkable.
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "London", "Tokyo"]}},
                   "required": ["city"]}}}


@pytest.mark.slow
def test_a_tool_call_comes_back_as_tool_calls(client):
    """The call is generated under llama-server's grammar (built from the template's call syntax and the tool's
    schema) and comes back through its parser as OpenAI `tool_calls`, no markup left in `content`.

    tool_choice "required" alone does not make the untuned model call: in this llama.cpp the grammar allows free text
    before the first "<tool_call>", and the model never writes that tag. So the request ends with an assistant
    message holding the opening tag, which llama-server continues (its assistant prefill); the rest is the model's.
    """
    messages = [{"role": "user", "content": "What is the weather in Paris?"},
                {"role": "assistant", "content": CALL_OPEN + "\n"}]
    response = client.chat.completions.create(
        model="smollm2", messages=messages, tools=[WEATHER], tool_choice="required", parallel_tool_calls=False,
        temperature=0, max_tokens=64, logit_bias={"2": 20}, extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert validate_arguments(WEATHER, arguments) is None, arguments
    assert not choice.message.content


@pytest.mark.slow
def test_reasoning_comes_back_as_reasoning_content(server):
    """In think mode the template pre-fills "<think>\\n"; llama-server's parser knows the block is open, so what the
    model writes up to "</think>" is `reasoning_content` and the rest `content`, the same split as smolthink's own
    parser makes of the raw text (the same request with `reasoning_format: none`, no prompt cache so that both
    generate the same tokens). The untuned model does not close
    the block by itself, so a reasoning budget makes llama-server's sampler close it after a few tokens."""
    body = {"messages": [{"role": "user", "content": "What is 17 * 23?"}], "temperature": 0, "max_tokens": 48,
            "reasoning_budget_tokens": 8, "cache_prompt": False}  # the same numerics in both requests
    message = post(server + "/v1/chat/completions", body)["choices"][0]["message"]
    raw = post(server + "/v1/chat/completions", {**body, "reasoning_format": "none"})["choices"][0]["message"]
    assert raw["content"].startswith(THINK_OPEN) and THINK_CLOSE in raw["content"], raw
    ours = parse_assistant(raw["content"])
    assert message.get("reasoning_content") and message["reasoning_content"].strip(), message
    assert message["reasoning_content"].strip() == ours.reasoning
    assert message["content"].strip() == ours.content != ""
    assert THINK_OPEN not in message["reasoning_content"] and THINK_CLOSE not in message["reasoning_content"]


def test_a_file_llama_server_cannot_load_is_reported_with_its_log(tmp_path):
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"GGUF but not really")
    with pytest.raises(RuntimeError, match="llama-server exited") as error, running(bad, startup_timeout=60):
        pass
    assert "not-a-model.gguf" in str(error.value)  # the end of its log says which file failed


@pytest.mark.slow
def test_running_stops_the_server_by_its_pid(exported):
    with running(exported, ["--ctx-size", "512", "--threads", "1"]) as url, \
            urllib.request.urlopen(url + "/health", timeout=10) as response:
        assert json.load(response)["status"] == "ok"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/health", timeout=5)
