"""The CLI as a user drives it: help, model listing, one-shot ask (JSON for scripts), and clear errors."""

import json

import pytest
from typer.testing import CliRunner

from smolthink.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("models", "chat", "ask", "demo"):
        assert command in result.output


def test_models_lists_the_embedded_default():
    result = invoke("models")
    assert result.exit_code == 0
    assert "smollm2-135m" in result.output and "smollm2-135m-q4_1" in result.output


def test_unknown_model_lists_what_is_available():
    result = invoke("ask", "hi", "--model", "no-such-model")
    assert result.exit_code == 2
    assert "no-such-model" in result.output and "smollm2-135m" in result.output


def test_missing_docs_folder_is_a_clear_error(tmp_path):
    result = invoke("ask", "hi", "--docs", str(tmp_path / "nope"))
    assert result.exit_code == 2 and "nope" in result.output


def test_empty_docs_folder_is_a_clear_error(tmp_path):
    result = invoke("ask", "hi", "--docs", str(tmp_path))
    assert result.exit_code == 2 and str(tmp_path) in result.output


def test_unknown_tool_lists_valid_ones():
    result = invoke("ask", "hi", "--tools", "calculator,teleport")
    assert result.exit_code == 2
    assert "teleport" in result.output and "web_search" in result.output


def test_unknown_backend_is_rejected():
    result = invoke("ask", "hi", "--backend", "onnx")
    assert result.exit_code == 2 and "onnx" in result.output


def test_empty_prompt_is_rejected():
    result = invoke("ask", "   ")
    assert result.exit_code == 2 and "empty" in result.output


def test_corrupt_gguf_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf at all")
    result = invoke("ask", "hi", "--model", str(bad))
    assert result.exit_code == 2 and "broken.gguf" in result.output


def test_ask_json_on_a_tiny_model_returns_the_whole_conversation(tiny_model_dir):
    result = invoke("ask", "What is 2+2?", "--model", str(tiny_model_dir), "--max-new-tokens", "6", "--json", "--tools", "")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["backend"] == "transformers"
    assert out["messages"][0] == {"role": "user", "content": "What is 2+2?"}
    assert out["messages"][-1]["role"] == "assistant"
    assert out["last_turn"]["completion_tokens"] <= 6 and out["last_turn"]["prompt_tokens"] > 10


def test_llama_backend_refuses_an_hf_directory_with_advice(tiny_model_dir):
    result = invoke("ask", "hi", "--model", str(tiny_model_dir), "--backend", "llama")
    assert result.exit_code == 2
    assert "GGUF" in result.output and "transformers" in result.output


@pytest.mark.parametrize("flag", ["--think", "--no-think"])
def test_ask_modes_reach_the_prompt(tiny_model_dir, flag):
    result = invoke("ask", "hi", "--model", str(tiny_model_dir), "--max-new-tokens", "2", "--json", "--tools", "", flag)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["think"] is (flag == "--think")


def test_chat_is_interactive_and_exits_cleanly(tiny_model_dir):
    result = runner.invoke(
        app,
        ["chat", "--model", str(tiny_model_dir), "--max-new-tokens", "4", "--tools", ""],
        input="hello there\n/reset\nsecond question\n/exit\n",
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("smolthink ›") == 2  # one answer per question
    assert "(conversation cleared)" in result.output


def test_ask_streams_a_human_readable_answer(tiny_model_dir):
    result = invoke("ask", "hi", "--model", str(tiny_model_dir), "--max-new-tokens", "4", "--tools", "")
    assert result.exit_code == 0, result.output
    assert not result.output.lstrip().startswith("{")  # not JSON without --json


def test_truncated_gguf_is_a_clear_error(tmp_path):
    from smolthink.models import embedded_gguf

    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(embedded_gguf().read_bytes()[:200_000])  # valid header, missing tensors
    result = invoke("ask", "hi", "--model", str(truncated))
    assert result.exit_code == 2 and "cut.gguf" in result.output


def test_serve_command_starts_a_server_on_loopback(tiny_model_dir):
    import socket
    import subprocess
    import sys
    import time

    import httpx2 as httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "smolthink.cli", "serve", "--model", str(tiny_model_dir), "--port", str(port), "--api-key", "k"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not come up"
            time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 401
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer k"}, timeout=5).json()
        assert models["data"][0]["id"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_unknown_model_is_a_clear_error():
    result = invoke("serve", "--model", "no-such-model")
    assert result.exit_code == 2 and "no-such-model" in result.output


# --- your own tools (--tools-file) and the chat's slash commands ---------------------------------------------------

SHOP = '''
def price(item: str) -> str:
    """Look up the price of an item in the shop.

    Args:
        item: The item, e.g. bread.
    """
    return {"bread": "4 euros", "apple": "2 euros"}[item]
'''


@pytest.fixture
def shop(tmp_path):
    path = tmp_path / "shop.py"
    path.write_text(SHOP, encoding="utf-8")
    return path


@pytest.fixture
def scripted(monkeypatch):
    """Every command gets this backend instead of loading a model: set its `outputs`, then invoke."""
    import smolthink.backends
    import smolthink.chat.demo
    from test_session import ScriptedBackend

    backend = ScriptedBackend()
    monkeypatch.setattr(smolthink.backends, "load_backend", lambda *args, **kwargs: backend)
    monkeypatch.setattr(smolthink.chat.demo, "load_backend", lambda *args, **kwargs: backend)
    return backend


def flat(output: str) -> str:
    return " ".join(output.split())  # rich wraps long lines at the terminal's width


def test_help_lists_the_task_commands():
    result = invoke("--help")
    for command in ("summarize", "rewrite", "agent"):
        assert command in result.output


def test_tools_file_offers_its_functions_instead_of_the_default(tiny_model_dir, shop):
    base = ["ask", "hi", "--model", str(tiny_model_dir), "--max-new-tokens", "2", "--json"]
    offered = json.loads(invoke(*base, "--tools-file", str(shop)).output)["tools"]
    assert [t["function"]["name"] for t in offered] == ["price"]
    assert offered[0]["function"]["parameters"]["properties"]["item"]["type"] == "string"
    picked = json.loads(invoke(*base, "--tools-file", str(shop), "--tools", "calculator,price").output)["tools"]
    assert [t["function"]["name"] for t in picked] == ["calculator", "price"]
    default = json.loads(invoke(*base).output)["tools"]
    assert [t["function"]["name"] for t in default] == ["calculator"]


def test_the_model_calls_a_tools_file_function_through_ask(scripted, shop):
    call = '<tool_call>\n{"name": "price", "arguments": {"item": "bread"}}\n</tool_call>'
    scripted.outputs = ["I'll look it up.\n</think>\n\n" + call, "\n</think>\n\nBread costs 4 euros."]
    result = invoke("ask", "How much is bread?", "--tools-file", str(shop), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert {"role": "tool", "name": "price", "content": "4 euros"} in out["messages"]
    assert out["answer"] == "Bread costs 4 euros."


@pytest.mark.parametrize("source, needles", [
    ("import os\nraise OSError('no token configured')\n", ["broken.py:2", "OSError: no token configured"]),
    ("def calculator(expression: str) -> str:\n    '''Mine.\n\n    Args:\n        expression: E.\n    '''\n",
     ["broken.py:1", "built-in tool 'calculator'"]),
    ("def lookup(key):\n    '''Look up.'''\n", ["broken.py:1", "lookup has no type hint for key"]),
    ("X = 1\n", ["defines no public function"]),
])
def test_bad_tools_files_are_clear_errors_before_the_model_loads(tmp_path, source, needles):
    path = tmp_path / "broken.py"
    path.write_text(source, encoding="utf-8")
    for command in (["ask", "hi"], ["chat"], ["demo"]):
        result = invoke(*command, "--tools-file", str(path), "--model", "no-such-model")
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        for needle in needles:
            assert needle in flat(result.output), (needle, result.output)


def test_tools_naming_an_unknown_tool_lists_builtins_and_loaded_ones(shop):
    result = invoke("ask", "hi", "--tools-file", str(shop), "--tools", "price,teleport", "--model", "no-such-model")
    assert result.exit_code == 2
    available = "available tools: web_search, local_search, calculator, price"
    assert f"unknown tool 'teleport'; {available}" in flat(result.output)


def test_the_same_function_in_two_tools_files_names_both(tmp_path, shop):
    other = tmp_path / "other.py"
    other.write_text(SHOP, encoding="utf-8")
    result = invoke("ask", "hi", "--tools-file", str(shop), "--tools-file", str(other), "--model", "no-such-model")
    assert result.exit_code == 2
    assert "shop.py:2" in result.output and "other.py:2" in result.output


def test_demo_offers_the_tools_file_functions_in_its_tool_exchange(scripted, shop):
    scripted.outputs = ["7\n</think>\n\n10 euros.", "10 euros.", "\n</think>\n\n1872.", "In 1872."]
    result = invoke("demo", "--tools-file", str(shop))
    assert result.exit_code == 0, result.output
    assert "your tools are offered too: price" in result.output
    assert '"name": "price"' in scripted.prompts[2] and '"name": "price"' not in scripted.prompts[0]


def test_think_and_no_think_switch_the_mode_mid_chat(scripted):
    scripted.outputs = ["hmm\n</think>\n\none", "two", "let me see\n</think>\n\nthree"]
    result = runner.invoke(app, ["chat", "--tools", ""], input="first\n/no_think\nsecond\n/think\nthird\n/exit\n",
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    ends = [p.endswith("<think>\n") for p in scripted.prompts]
    assert ends == [True, False, True]  # think, then no_think, then think again
    assert scripted.prompts[1].endswith("<think>\n\n</think>\n\n")
    assert "(thinking off from the next turn)" in result.output and "(thinking on from the next turn)" in result.output


def test_a_system_flag_outranks_the_switch_and_chat_says_so(scripted):
    scripted.outputs = ["hmm\n</think>\n\nstill thinking"]
    result = runner.invoke(app, ["chat", "--tools", "", "--system", "Be brief. /think"], input="/no_think\nhi\n/exit\n",
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert scripted.prompts[0].endswith("<think>\n")
    assert "the system prompt says /think" in flat(result.output)


def test_chat_help_lists_the_slash_commands_and_unknown_ones_are_not_sent(scripted):
    result = runner.invoke(app, ["chat", "--tools", ""], input="/help\n/thinking\n/exit\n", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for command in ("/think", "/no_think", "/reset", "/exit"):
        assert command in result.output
    assert "unknown command /thinking" in result.output and scripted.prompts == []


def test_demo_compare_answers_the_same_prompts_with_both_models_side_by_side(scripted):
    # per model: a thinking answer, a tool call (then its answer), and an answer from a local_search result
    call = '\n</think>\n\n<tool_call>\n{"name": "local_search", "arguments": {"query": "lighthouse first lit"}}\n</tool_call>'
    scripted.outputs = ["3 x 2 = 6; 6 + 4 = 10.\n</think>\n\nYou pay 10 euros.", call, "1872 it says.\n</think>\n\nIn 1872.",
                        "It was first lit in 1872.",
                        "guess\n</think>\n\n12 euros.", "\n</think>\n\nI think 1900.", "It says 1872."]
    result = runner.invoke(app, ["demo", "--compare", "runs/tuned.gguf"], env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "the same prompts, base vs tuned" in out and "smollm2-135m" in out and "runs/tuned.gguf" in out
    assert "You pay 10 euros." in out and "12 euros." in out  # both models' answers to the first prompt
    assert "→ local_search" in out  # the first model's tool call is shown
    assert "It says 1872." in out
    assert len(scripted.prompts) == 7
    assert "Tern Island" in scripted.prompts[3] and "<tool_response>" in scripted.prompts[3]  # the result fed back
