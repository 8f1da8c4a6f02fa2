"""`chat_template: model`: a tiny random SmolLM3-shaped model with a SmolLM3-style template goes through data build →
train → chat → serve → parse in its own format, plus the python_tools `<code>` calls and the bad-template error.

The template below is written for these tests from SmolLM3's documented semantics (not copied from the model): a
"## Metadata" system block with the reasoning mode, "/think" and "/no_think" in the system message winning over
`enable_thinking` and removed from it, tools as `xml_tools` (calls `<tool_call>{json}</tool_call>`) or
`python_tools` (calls `<code>f(x=1)</code>`), the reasoning inside the assistant content as a `<think>` block (an
empty one pre-filled in no-think mode), tool results as user turns. Unlike SmolLM3's own it marks the generated
text with {% generation %}, which `chat_template: model` requires.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from smolthink.config import ConfigError
from smolthink.formats import (
    generation_prefix,
    has_generation_spans,
    is_tool_aware,
    parse_assistant,
    python_call,
    render,
    render_spans,
    template_sha256,
    tool_call,
)

SMOLLM3_STYLE = r"""
{%- set reasoning_mode = "/think" if (enable_thinking if enable_thinking is defined else true) else "/no_think" -%}
{%- set system_message = messages[0].content if messages and messages[0].role == "system" else "" -%}
{%- if "/no_think" in system_message -%}
  {%- set reasoning_mode = "/no_think" -%}
{%- elif "/think" in system_message -%}
  {%- set reasoning_mode = "/think" -%}
{%- endif -%}
{%- set custom_instructions = system_message.replace("/no_think", "").replace("/think", "").strip() -%}
{{- "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\nReasoning Mode: " + reasoning_mode + "\n\n" -}}
{{- "## Custom Instructions\n\n" + (custom_instructions or "You are a helpful AI assistant named SmolLM, trained by Hugging Face.") + "\n\n" -}}
{{- "## Tools\n\n### XML Tools\n\n" -}}
{%- if tools -%}
  {%- set ns = namespace(text="You may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n\n<tools>\n") -%}
  {%- for tool in tools -%}
    {%- set ns.text = ns.text ~ (tool | tojson) ~ "\n" -%}
  {%- endfor -%}
  {{- ns.text + "</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags." -}}
{%- else -%}
  {{- "None" -}}
{%- endif -%}
{{- "\n\n### Python Tools\n\n" -}}
{%- if python_tools -%}
  {%- set ns = namespace(text="When you send a message containing Python code between '<code>' and '</code>' tags, it is run and you are given its output.\n\nYou can use the following tools in your python code like regular functions:\n<tools>\n") -%}
  {%- for tool in python_tools -%}
    {%- set ns.text = ns.text ~ (tool | tojson) ~ "\n" -%}
  {%- endfor -%}
  {{- ns.text + "</tools>" -}}
{%- else -%}
  {{- "None" -}}
{%- endif -%}
{{- "\n\n<|im_end|>\n" -}}
{%- for message in messages -%}
  {%- set content = message.content if message.content is string else "" -%}
  {%- if message.role == "user" -%}
    {{- "<|im_start|>user\n" + content + "<|im_end|>\n" -}}
  {%- elif message.role == "assistant" -%}
    {{- "<|im_start|>assistant\n" + ("<think>\n\n</think>\n" if reasoning_mode == "/no_think" else "") -}}
    {%- generation -%}
      {{- content.lstrip("\n") + "<|im_end|>" -}}
    {%- endgeneration -%}
    {{- "\n" -}}
  {%- elif message.role == "tool" -%}
    {{- "<|im_start|>user\n<tool_response>\n" + content + "\n</tool_response><|im_end|>\n" -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
  {{- "<|im_start|>assistant\n" + ("<think>\n\n</think>\n" if reasoning_mode == "/no_think" else "") -}}
{%- endif -%}
"""

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                       "required": ["city"]},
    },
}
CITIES = ["Paris", "Oslo", "Lima", "Kyoto", "Accra", "Quito", "Perth", "Tunis"]


def conversation(city: str, days: int = 2) -> list[dict]:
    """A conversation with tools, reasoning, a tool call and its result, and a final answer."""
    return [
        {"role": "system", "content": "You answer weather questions."},
        {"role": "user", "content": f"What is the weather in {city} for {days} days?"},
        {"role": "assistant", "content": "", "reasoning": f"The user wants {city}; I call get_weather.",
         "tool_calls": [tool_call("get_weather", {"city": city, "days": days})]},
        {"role": "tool", "name": "get_weather", "content": json.dumps({"city": city, "sky": "sunny"})},
        {"role": "assistant", "content": f"It is sunny in {city}.", "reasoning": "The tool says sunny."},
    ]


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def save_tiny_smollm3(out: Path, tokenizer, template: str) -> Path:
    import torch
    from transformers import SmolLM3Config, SmolLM3ForCausalLM

    config = SmolLM3Config(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                           tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(0)
    SmolLM3ForCausalLM(config).save_pretrained(out)
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = template
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def smollm3_dir(tmp_path_factory, smollm2_tokenizer) -> Path:
    return save_tiny_smollm3(tmp_path_factory.mktemp("tiny-smollm3"), smollm2_tokenizer, SMOLLM3_STYLE)


def data_recipe(tmp: Path, tokenizer: str | Path, **top) -> dict:
    rows = tmp / "convs.jsonl"
    rows.write_text("".join(json.dumps({"messages": conversation(c, 1 + i), "tools": [WEATHER]}) + "\n"
                            for i, c in enumerate(CITIES)), encoding="utf-8")
    return {"name": "smollm3-format", "seed": 0, "validation": 0.0, "tokenizer": str(tokenizer),
            "chat_template": "model", "dedup": {"exact": True, "near": False},
            "sources": [{"name": "weather", "type": "local", "path": str(rows)}],
            "phases": [{"name": "short", "window": 512, "stride": 128}], **top}


@pytest.fixture(scope="module")
def model_format_data(tmp_path_factory, smollm3_dir) -> Path:
    from smolthink.data.build import build
    from smolthink.data.recipe import recipe_from_dict

    tmp = tmp_path_factory.mktemp("model-format")
    build(recipe_from_dict(data_recipe(tmp, smollm3_dir)), tmp / "data", console=quiet())
    return tmp / "data"


def train_recipe(path: Path, model: Path, data: Path) -> Path:
    """3 steps of full fine-tuning on the data's `short` phase."""
    path.write_text(yaml.safe_dump({
        "name": "smollm3", "model": str(model), "data": str(data),
        "defaults": {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "learning_rate": 1e-3,
                     "logging_steps": 1, "save_steps": 10, "warmup_steps": 0, "seed": 3},
        "phases": [{"name": "short", "max_steps": 3}],
    }), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------- rendering


def test_the_template_renders_smollm3_semantics_and_parses_back():
    assert is_tool_aware(SMOLLM3_STYLE)  # what chat, serve and export test to keep a model's own template
    messages = conversation("Paris")
    text, spans = render_spans(messages, [WEATHER], template=SMOLLM3_STYLE)
    assert "## Metadata" in text and "Reasoning Mode: /think" in text and '"name": "get_weather"' in text
    turns = [text[a:b] for a, b in spans]
    assert len(turns) == 2 and all(t.endswith("<|im_end|>") for t in turns)
    for turn, expected in zip(turns, [messages[2], messages[4]]):  # each rendered turn parses back to its message
        parsed = parse_assistant(turn)
        assert parsed.ok and parsed.message() == {k: v for k, v in expected.items() if k != "role"} | {"role": "assistant"}
    assert "<tool_response>\n" + messages[3]["content"] in text

    no_think = [{**messages[0], "content": "You answer weather questions. /no_think"}, *messages[1:]]
    text = render(no_think, [WEATHER], template=SMOLLM3_STYLE, add_generation_prompt=True)
    assert "Reasoning Mode: /no_think" in text and "/no_think\n" not in text.split("## Custom Instructions")[1]
    assert "The tool says sunny" not in text  # no-think drops the reasoning, the template writes the empty block
    assert generation_prefix(text) == "<think>\n\n</think>\n"
    flagged = [{**messages[0], "content": "/think You answer."}, messages[1]]
    prompt = render(flagged, [WEATHER], template=SMOLLM3_STYLE, enable_thinking=False, add_generation_prompt=True)
    assert "Reasoning Mode: /think" in prompt and generation_prefix(prompt) == ""


def test_python_tools_render_code_calls_that_parse_back():
    messages = conversation("Oslo")
    text, spans = render_spans(messages, [WEATHER], template=SMOLLM3_STYLE, tool_style="python")
    assert "### Python Tools\n\nWhen you send" in text and "### XML Tools\n\nNone" in text
    call_turn = text[slice(*spans[0])]
    assert "<code>get_weather(city='Oslo', days=2)</code>" in call_turn
    assert parse_assistant(call_turn).tool_calls == messages[2]["tool_calls"]
    with pytest.raises(ValueError, match="cannot be Python keyword arguments"):
        python_call("f", {"class": 1})


def test_code_calls_parse_into_structured_calls():
    parsed = parse_assistant('<think>\nhm\n</think>\n\nLet me look.\n<code>f(x=1, y="a", z=[1.5, {"k": None}], ok=True)</code>')
    assert parsed.ok and parsed.reasoning == "hm" and parsed.content == "Let me look."
    assert parsed.tool_calls == [tool_call("f", {"x": 1, "y": "a", "z": [1.5, {"k": None}], "ok": True})]
    assert parse_assistant("<code>math.hypot(x=-3, y=4)</code>").tool_calls == [tool_call("math.hypot", {"x": -3, "y": 4})]
    two = parse_assistant("<code>f(a=1)</code>\n<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>")
    assert [c["function"]["name"] for c in two.tool_calls] == ["f", "g"]


@pytest.mark.parametrize("code", [
    "f(1)", "f(x=g())", "f(**kw)", "__import__('os').system(cmd='ls')", "f(x=1); g(y=2)", "f(x=1, x=2)",
    "f(x=[i for i in range(3)])", "f(x=1 + 2j * y)", "f(x=1)\nimport os\ng()", "f(x=__import__('os'))",
])
def test_a_call_that_is_not_one_literal_only_call_is_a_call_error_never_run(code):
    parsed = parse_assistant(f"<code>{code}</code>")
    assert parsed.tool_calls == [] and len(parsed.call_errors) == 1 and parsed.call_errors[0].startswith("<code> call")
    truncated = parse_assistant("<code>f(x=1")
    assert truncated.tool_calls == [] and "unterminated <code>" in truncated.call_errors[0]


def test_code_that_is_not_call_shaped_stays_content():
    text = "Use <code>x = 1</code> or <code>import os</code>; then <code>f(a=1)</code>."
    parsed = parse_assistant(text)
    assert parsed.content == "Use <code>x = 1</code> or <code>import os</code>; then ." and not parsed.call_errors
    assert parsed.tool_calls == [tool_call("f", {"a": 1})]


# ------------------------------------------------------------------------------------------- bad templates


def test_a_template_without_generation_spans_is_refused_with_the_fix(tmp_path, smollm2_tokenizer):
    from smolthink.data.build import build
    from smolthink.data.recipe import recipe_from_dict

    plain = SMOLLM3_STYLE.replace("{%- generation -%}", "").replace("{%- endgeneration -%}", "")
    model = save_tiny_smollm3(tmp_path / "plain", smollm2_tokenizer, plain)
    out = tmp_path / "data"
    with pytest.raises(ConfigError, match=r"chat_template: model.*no \{% generation %\} spans.*use chat_template: "
                                          r"smolthink or a template with \{% generation %\} spans"):
        build(recipe_from_dict(data_recipe(tmp_path, model)), out, console=quiet())
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".data")]
    with pytest.raises(ConfigError, match="tool_style: python needs chat_template: model"):
        recipe_from_dict(data_recipe(tmp_path, model, chat_template="smolthink", tool_style="python"))


def test_training_a_model_whose_template_differs_from_the_datas_is_refused(tmp_path, tiny_model_dir, model_format_data):
    from smolthink.train.run import train

    with pytest.raises(ConfigError, match=r"chat_template: model.*template differs"):
        train(train_recipe(tmp_path / "t.yaml", tiny_model_dir, model_format_data), out=tmp_path / "run", console=quiet())
    assert not (tmp_path / "run" / "short").exists()


# -------------------------------------------------------------------------------------------- round trip


def test_build_train_chat_serve_in_the_models_own_format(tmp_path, smollm3_dir, model_format_data):
    import openai

    from smolthink.backends import GenerationConfig, load_backend
    from smolthink.chat.session import ChatSession
    from smolthink.data.build import load_manifest, load_part
    from smolthink.data.inspect import rendered_examples
    from smolthink.export import export_chat_template, strip_generation_tags
    from smolthink.models import load_hf, resolve_model
    from smolthink.serve import create_app
    from smolthink.train.run import train

    # data build: rendered and tokenized with the model's own template, which the manifest names
    data = model_format_data
    manifest = load_manifest(data)
    assert manifest["chat_template"] == {"name": "model", "sha256": template_sha256(SMOLLM3_STYLE)}
    _, tokenizer = load_hf(resolve_model(str(smollm3_dir)))
    row = load_part(data, "short", ("input_ids", "assistant_masks"))["train"][0]
    trained_text = tokenizer.decode([t for t, m in zip(row["input_ids"], row["assistant_masks"]) if m])
    assert "<tool_call>" in trained_text and "## Metadata" not in trained_text  # the system block is prompt
    assert "<think>" in trained_text and trained_text.count("<|im_end|>") == 2  # the two assistant turns only
    assert "## Metadata" in tokenizer.decode(row["input_ids"])
    assert "## Metadata" in rendered_examples(data, 1)[0].plain  # `data show` renders in the data's format

    # train 3 steps: the run keeps the template unchanged
    run = train(train_recipe(tmp_path / "train.yaml", smollm3_dir, data), out=tmp_path / "run", console=quiet())
    _, run_tokenizer = load_hf(resolve_model(str(run)))
    assert run_tokenizer.chat_template == SMOLLM3_STYLE
    assert strip_generation_tags(export_chat_template(run_tokenizer.chat_template)) == strip_generation_tags(SMOLLM3_STYLE)
    assert not has_generation_spans(strip_generation_tags(SMOLLM3_STYLE))  # what the GGUF carries

    # chat one turn with the transformers backend: the prompt is the model's own format
    backend = load_backend(str(run), "transformers")
    assert backend.template == SMOLLM3_STYLE and backend.thinks
    from smolthink.tools import Tool

    weather = Tool(fn=lambda city, days=1: {"city": city, "sky": "sunny"}, schema=WEATHER)
    session = ChatSession(backend, tools=[weather], max_rounds=1, gen=GenerationConfig(max_new_tokens=8))
    session.messages += conversation("Lima")[:-1]  # answer after the tool result
    prompt = session.prompt()
    assert prompt == render(conversation("Lima")[:-1], [WEATHER], template=SMOLLM3_STYLE, add_generation_prompt=True)
    assert "<|im_start|>assistant\n<think>\nThe user wants Lima" in prompt
    events = list(session.respond())
    assert events and session.messages[-1]["role"] == "assistant"

    # serve one request, with /no_think in the system message
    from test_serve import serving

    with serving(create_app(backend, model_name="smollm3", max_tokens_cap=8)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=60)
        out = client.chat.completions.create(
            model="smollm3", max_tokens=8, temperature=0, tools=[WEATHER],
            messages=[{"role": "system", "content": "Be brief. /no_think"}, {"role": "user", "content": "Hi!"}],
        )
    assert out.choices[0].finish_reason in ("stop", "length", "tool_calls")
    assert (out.choices[0].message.model_extra or {}).get("reasoning_content") is None  # /no_think: no reasoning


@pytest.fixture(scope="module")
def python_tools_data(tmp_path_factory, smollm3_dir) -> Path:
    from smolthink.data.build import build
    from smolthink.data.recipe import recipe_from_dict

    tmp = tmp_path_factory.mktemp("python-tools")
    build(recipe_from_dict(data_recipe(tmp, smollm3_dir, tool_style="python")), tmp / "data", console=quiet())
    return tmp / "data"


def test_a_python_tools_run_chats_in_python_tools(tmp_path, smollm3_dir, python_tools_data):
    from smolthink.backends import GenerationConfig, load_backend
    from smolthink.chat.session import ChatSession
    from smolthink.tools import Tool
    from smolthink.train.run import train

    run = train(train_recipe(tmp_path / "train.yaml", smollm3_dir, python_tools_data), out=tmp_path / "run",
                console=quiet())
    assert json.loads((run / "train_config.json").read_text())["tool_style"] == "python"
    backend = load_backend(str(run), "transformers")
    assert backend.tool_style == "python"  # chat renders the tools the way the run was trained
    weather = Tool(fn=lambda city, days=1: {"city": city, "sky": "sunny"}, schema=WEATHER)
    session = ChatSession(backend, tools=[weather], max_rounds=1, gen=GenerationConfig(max_new_tokens=4))
    session.messages += conversation("Lima")[:-1]
    prompt = session.prompt()
    assert prompt == render(conversation("Lima")[:-1], [WEATHER], template=SMOLLM3_STYLE, add_generation_prompt=True,
                            tool_style="python")
    assert "### XML Tools\n\nNone" in prompt and "<code>get_weather(city='Lima', days=2)</code>" in prompt


def test_the_server_renders_python_tools_and_parses_code_calls_back():
    import openai

    from smolthink.serve import create_app
    from test_serve import ScriptedBackend, serving

    backend = ScriptedBackend()
    backend.template, backend.tool_style = SMOLLM3_STYLE, "python"
    backend.script = "<think>\nThe user wants Quito.\n</think>\n\n<code>get_weather(city='Quito', days=3)</code>"
    history = conversation("Oslo")[:-1]
    messages = [*history[:2], {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": json.dumps({"city": "Oslo", "days": 2})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": history[3]["content"]},
        {"role": "user", "content": "And Quito for 3 days?"}]
    with serving(create_app(backend, model_name="smollm3")) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=60)
        out = client.chat.completions.create(model="smollm3", messages=messages, tools=[WEATHER], temperature=0)
        with pytest.raises(openai.BadRequestError, match="python_tools"):
            client.chat.completions.create(model="smollm3", messages=messages, tools=[WEATHER], tool_choice="required")
    prompt = backend.prompts[0]
    assert "### Python Tools\n\nWhen you send" in prompt and "### XML Tools\n\nNone" in prompt
    assert "<code>get_weather(city='Oslo', days=2)</code>" in prompt  # the earlier call, as the model writes calls
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content in (None, "")
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Quito", "days": 3}
    assert len(backend.prompts) == 1  # the forced request was refused before it reached the model


def test_a_streamed_code_call_is_held_back_until_whole_and_other_code_stays_content():
    from smolthink.serve import Reply, merge_deltas

    text = "<think>\nhm\n</think>\n\nSet <code>x = 1</code> first.\n<code>get_weather(city='Lima', days=1)</code>"
    python = Reply("", {"get_weather"}, tool_style="python")
    deltas = [d for i in range(0, len(text), 3) for d in python.feed(text[i : i + 3])] + python.finish()
    message = merge_deltas(deltas)
    assert message["reasoning_content"] == "hm" and "warnings" not in message
    assert message["content"].strip() == "Set <code>x = 1</code> first."
    (call,) = message["tool_calls"]
    assert call["function"]["name"] == "get_weather" and json.loads(call["function"]["arguments"]) == {"city": "Lima", "days": 1}
    assert not any("get_weather" in d.get("content", "") for d in deltas)  # never streamed as text first
    xml = Reply("", {"get_weather"})  # a <tool_call> model: <code> is only text
    message = merge_deltas(xml.feed(text) + xml.finish())
    assert "tool_calls" not in message and "<code>get_weather(city='Lima', days=1)</code>" in message["content"]
