"""The smol-tools tasks: `summarize`, `rewrite` and `agent` (smolthink.chat.tasks and their commands).

The prompts and the context check directly; each command through the CLI on the tiny random model (what reaches
the model) and on a scripted backend (exact output); `slow` tests run each on the real 135M model.
"""

from __future__ import annotations

import json

import pytest
from test_session import ScriptedBackend, call
from typer.testing import CliRunner

import smolthink.backends
from smolthink.backends import GenerationConfig
from smolthink.chat.session import ChatSession
from smolthink.chat.tasks import (
    DEFAULT_STYLE,
    REWRITE_STYLES,
    SYSTEM_PROMPTS,
    TaskInputError,
    check_fits,
    read_text_file,
    system_prompt,
)
from smolthink.cli import app
from smolthink.errors import UserError
from cli_checks import assert_clear_error

runner = CliRunner()
LIGHTHOUSE = (
    "The Tern Island lighthouse was first lit in 1872. Its keeper, Ada Moss, kept the lamp burning through the "
    "great storm of 1881, when three fishing boats found the harbour by its light. The lighthouse was automated "
    "in 1965 and is now a museum, open from May to September."
)


def invoke(*args, input=None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def scripted(monkeypatch):
    """Make every command load `backend.outputs` instead of a model: set them, then invoke."""
    backend = ScriptedBackend()
    monkeypatch.setattr(smolthink.backends, "load_backend", lambda *args, **kwargs: backend)
    return backend


# --- the prompts ----------------------------------------------------------------------------


def test_each_style_finishes_the_rewrite_prompt():
    prompts = {style: system_prompt("rewrite", style=style) for style in REWRITE_STYLES}
    assert len(set(prompts.values())) == len(REWRITE_STYLES)
    for style, prompt in prompts.items():
        assert REWRITE_STYLES[style] in prompt and "{" not in prompt
    assert system_prompt("rewrite") == prompts[DEFAULT_STYLE]


def test_no_task_prompt_sets_the_think_mode():
    """The template reads /think and /no_think in the system prompt; a task prompt must leave that to --think."""
    rewrites = [system_prompt("rewrite", style=style) for style in REWRITE_STYLES]
    for prompt in [SYSTEM_PROMPTS["summarize"], SYSTEM_PROMPTS["agent"], *rewrites]:
        assert "/think" not in prompt and "/no_think" not in prompt


def test_unknown_style_or_task_lists_the_valid_ones():
    with pytest.raises(UserError, match="unknown style 'pirate'; styles: formal, casual, concise, simple"):
        system_prompt("rewrite", style="pirate")
    with pytest.raises(UserError, match="unknown task 'translate'; tasks: summarize, rewrite, agent"):
        system_prompt("translate")
    with pytest.raises(UserError, match="rewrite task only"):
        system_prompt("summarize", style="formal")


# --- the context check ----------------------------------------------------------------------


def test_check_fits_names_the_input_size_and_the_context():
    session = ChatSession(ScriptedBackend(n_ctx=100), [], system=SYSTEM_PROMPTS["summarize"],
                          gen=GenerationConfig(max_new_tokens=20))
    check_fits(session, "word " * 20)  # the prompt's ~40 words + 20 for the answer fit in 100
    with pytest.raises(TaskInputError) as caught:
        check_fits(session, "word " * 150)
    message = str(caught.value)
    assert "the input is 150 tokens" in message and "100-token context" in message and "20-token answer" in message
    room = int(message.split("at most ")[1].split(" ")[0])
    check_fits(session, "word " * room)  # exactly what the message says fits, fits
    with pytest.raises(TaskInputError):
        check_fits(session, "word " * (room + 1))
    assert session.messages == [{"role": "system", "content": SYSTEM_PROMPTS["summarize"]}]  # checking adds nothing


def test_read_text_file_errors_name_the_file(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(TaskInputError, match="latin1.txt is not UTF-8 text"):
        read_text_file(tmp_path / "latin1.txt")
    with pytest.raises(TaskInputError, match="nope.txt: no such file"):
        read_text_file(tmp_path / "nope.txt")
    with pytest.raises(TaskInputError, match="is a folder"):
        read_text_file(tmp_path)


# --- summarize ------------------------------------------------------------------------------


def test_summarize_a_file_on_the_tiny_model(tiny_model_dir, tmp_path):
    path = tmp_path / "lighthouse.txt"
    path.write_text(LIGHTHOUSE, encoding="utf-8")
    result = invoke("summarize", str(path), "--model", str(tiny_model_dir), "--max-new-tokens", "4", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["task"] == "summarize" and out["think"] is False and out["tools"] == []
    assert out["messages"][:2] == [{"role": "system", "content": SYSTEM_PROMPTS["summarize"]},
                                   {"role": "user", "content": LIGHTHOUSE}]
    assert out["messages"][-1]["role"] == "assistant" and out["last_turn"]["completion_tokens"] <= 4


def test_summarize_reads_stdin_and_think_turns_thinking_on(tiny_model_dir):
    result = invoke("summarize", "-", "--model", str(tiny_model_dir), "--max-new-tokens", "2", "--json", "--think",
                    input=LIGHTHOUSE)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["think"] is True and out["messages"][1]["content"] == LIGHTHOUSE


def test_summarize_streams_the_answer_for_a_person(scripted, tmp_path):
    path = tmp_path / "lighthouse.txt"
    path.write_text(LIGHTHOUSE, encoding="utf-8")
    scripted.outputs = ["The lighthouse, lit in 1872, is now a museum."]
    result = invoke("summarize", str(path))
    assert result.exit_code == 0, result.output
    assert "The lighthouse, lit in 1872, is now a museum." in result.output
    assert scripted.prompts[0].endswith("<think>\n\n</think>\n\n")  # thinking off by default
    assert SYSTEM_PROMPTS["summarize"] in scripted.prompts[0] and LIGHTHOUSE in scripted.prompts[0]


def test_summarize_refuses_an_input_longer_than_the_context(tiny_model_dir, tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("The lighthouse keeper wrote another page of the log. " * 300, encoding="utf-8")
    result = invoke("summarize", str(path), "--model", str(tiny_model_dir))
    assert_clear_error(result, "tokens", "2,048-token context")  # the tiny model's max_position_embeddings


@pytest.mark.parametrize("name, content, needles", [("missing.txt", None, ["missing.txt", "no such file"]),
                                                    ("bad.txt", b"\xff\xfe not utf-8", ["bad.txt", "UTF-8"]),
                                                    ("blank.txt", b"  \n\n", ["empty"])])
def test_summarize_bad_input_is_a_clear_error(tmp_path, name, content, needles):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    assert_clear_error(invoke("summarize", str(tmp_path / name), "--model", "no-such-model"), *needles)


# --- rewrite --------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["casual", "simple"])
def test_rewrite_in_a_style_on_the_tiny_model(tiny_model_dir, style):
    text = "hey, can u send me the report by friday? thx"
    result = invoke("rewrite", text, "--style", style, "--model", str(tiny_model_dir), "--max-new-tokens", "4",
                    "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["task"], out["style"], out["think"]) == ("rewrite", style, False)
    assert out["messages"][0] == {"role": "system", "content": system_prompt("rewrite", style=style)}
    assert out["messages"][1] == {"role": "user", "content": text}


def test_rewrite_streams_the_answer_and_reads_stdin(scripted):
    scripted.outputs = ["Could you please send me the report by Friday? Thank you."]
    result = invoke("rewrite", "-", input="can u send the report by friday")
    assert result.exit_code == 0, result.output
    assert "Could you please send me the report by Friday?" in result.output
    assert REWRITE_STYLES["formal"] in scripted.prompts[0] and "can u send the report by friday" in scripted.prompts[0]


def test_rewrite_unknown_style_fails_before_the_model_loads():
    # The model does not exist either: the style error comes first, so nothing is loaded for a typo.
    assert_clear_error(invoke("rewrite", "hi", "--style", "pirate", "--model", "no-such-model"),
                       "pirate", "formal, casual, concise, simple")


def test_rewrite_empty_text_is_a_clear_error():
    assert_clear_error(invoke("rewrite", "   ", "--model", "no-such-model"), "empty")


# --- agent ----------------------------------------------------------------------------------


def test_agent_task_on_the_tiny_model_shows_its_steps(tiny_model_dir):
    result = invoke("agent", "--task", "What is 6*7?", "--model", str(tiny_model_dir), "--max-new-tokens", "4")
    assert result.exit_code == 0, result.output
    assert "step 1" in result.output and "tools: calculator" in result.output


def test_agent_runs_tools_step_by_step_and_answers(scripted):
    scripted.outputs = [
        "I need to multiply.\n</think>\n\n" + call("calculator", expression="6*7"),
        "The calculator says 42.\n</think>\n\n6 times 7 is 42.",
    ]
    result = invoke("agent", "--task", "What is 6*7?")
    assert result.exit_code == 0, result.output
    out = result.output
    shown = ("step 1", "I need to multiply.", "calculator({", "42", "step 2", "6 times 7 is 42.")
    order = [out.index(s) for s in shown]
    assert order == sorted(order), out
    assert SYSTEM_PROMPTS["agent"] in scripted.prompts[0]


def test_agent_stops_at_the_step_limit_and_says_so(scripted):
    looping = "Again.\n</think>\n\n" + call("calculator", expression="1+1")
    scripted.outputs = [looping] * 3
    result = invoke("agent", "--task", "count forever", "--max-steps", "2")
    assert result.exit_code == 0, result.output
    assert len(scripted.prompts) == 3 and "step 3" in result.output and "step 4" not in result.output
    assert "stopped after 2 tool rounds" in result.output and "--max-steps" in result.output


def test_agent_interactive_runs_each_task_with_its_tools_file(scripted, tmp_path):
    tools = tmp_path / "shop.py"
    tools.write_text('def price(item: str) -> str:\n    """Price of an item.\n\n    Args:\n        item: The item.\n'
                     '    """\n    return {"bread": "4 euros"}[item]\n', encoding="utf-8")
    scripted.outputs = ["\n</think>\n\n" + call("price", item="bread"), "\n</think>\n\nBread costs 4 euros."]
    result = invoke("agent", "--tools-file", str(tools), input="How much is bread?\n/exit\n")
    assert result.exit_code == 0, result.output
    assert "tools: price" in result.output and "4 euros" in result.output and "step 2" in result.output


def test_agent_bad_input_is_a_clear_error():
    assert_clear_error(invoke("agent", "--task", "  ", "--model", "no-such-model"), "empty")
    assert_clear_error(invoke("agent", "--tools", "teleport", "--model", "no-such-model"), "teleport", "calculator")


# --- on the real model ----------------------------------------------------------------------


@pytest.mark.slow
def test_summarize_on_the_real_model(tmp_path):
    path = tmp_path / "lighthouse.txt"
    path.write_text(LIGHTHOUSE, encoding="utf-8")
    result = invoke("summarize", str(path), "--max-new-tokens", "64", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert "lighthouse" in out["answer"].lower() and out["messages"][-1]["reasoning"] is None


@pytest.mark.slow
def test_rewrite_on_the_real_model():
    text = "The meeting got moved to 3pm because Tom is sick, sorry for the late notice, pls tell the others"
    result = invoke("rewrite", text, "--style", "formal", "--max-new-tokens", "48", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert "3pm" in out["answer"] and "Tom" in out["answer"]  # the facts survive the rewrite
    assert out["messages"][-1]["reasoning"] is None


@pytest.mark.slow
def test_agent_on_the_real_model_finishes_within_its_steps():
    result = invoke("agent", "--task", "What is 17 times 23?", "--max-steps", "2", "--max-new-tokens", "64")
    assert result.exit_code == 0, result.output
    assert "step 1" in result.output and "step 4" not in result.output
