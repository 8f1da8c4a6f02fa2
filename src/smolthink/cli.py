"""The `smolthink` command: thin typer commands over the library. Imports are lazy so `--help` is instant."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

console = Console()
err = Console(stderr=True)
_debug = False  # set by `smolthink --debug …` (or SMOLTHINK_DEBUG=1): tracebacks instead of one-line errors


class _Commands(TyperGroup):
    """The one place where failures become what a user sees (every command and sub-command runs inside it):

    - an error the user can fix (`smolthink.errors.UserError`: a bad recipe, file, model or option; also ValueError,
      which libraries raise for bad input, a missing file or folder, a full disk): `error: <message>`, exit 2;
    - a missing optional package: its name and the command that installs it, exit 2;
    - anything else is a bug: its one-line summary and how to see the traceback (`--debug`), exit 1.
    """

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors, --help, Ctrl-D: typer's own
            raise
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except Exception as e:
            if _debug:
                raise
            _explain(e)


def _explain(e: Exception) -> None:
    from rich.markup import escape

    from smolthink.errors import UserError

    expected = (UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
                FileExistsError)
    if isinstance(e, expected) or (isinstance(e, OSError) and e.errno == errno.ENOSPC):
        _fail(str(e) or type(e).__name__)
    if isinstance(e, ModuleNotFoundError) and e.name:
        _fail(f"the Python package {e.name.split('.')[0]!r} is missing ({e}); in a checkout run `make setup`, "
              "or install the extra that needs it: pip install 'smolthink[serve,data,train,eval,distill]'")
    err.print(f"[bold red]error:[/] unexpected {type(e).__name__}: {escape(str(e))}")
    err.print("[dim]this is a bug in smolthink; run the command again with --debug (smolthink --debug …) "
              "to see the traceback, and please report it[/]")
    raise typer.Exit(1)


app = typer.Typer(
    cls=_Commands,
    help="Teach small language models to think and call tools, then run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", envvar="SMOLTHINK_DEBUG", help="Show Python tracebacks instead of one-line errors.")] = False,
) -> None:
    """Teach small language models to think and call tools, then run them."""
    global _debug
    _debug = debug

ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="Model reference: smollm2-135m (default), smollm2-135m-q4_1, smollm2-135m-bf16, a .gguf file, an HF or adapter directory, or a hub id."),
]
BackendOpt = Annotated[str, typer.Option("--backend", "-b", help="auto | llama | transformers (auto: llama.cpp for GGUF, transformers for HF dirs).")]
ThinkOpt = Annotated[bool, typer.Option("--think/--no-think", help="Thinking mode; /think or /no_think in --system wins.")]
ToolsOpt = Annotated[Optional[str], typer.Option("--tools", "-t", help="Comma-separated tools among web_search, local_search, calculator and the --tools-file functions ('' for none). Default: calculator; with --tools-file, that file's functions only.")]
ToolsFileOpt = Annotated[Optional[list[Path]], typer.Option("--tools-file", help="A Python file whose public functions (type hints and an Args: docstring on each) become tools; repeatable. The file is imported, so its code runs as with `python FILE`: load only files you trust.")]
DocsOpt = Annotated[Optional[Path], typer.Option("--docs", help="Folder of .txt/.md files for local_search.")]
SystemOpt = Annotated[Optional[str], typer.Option("--system", "-s", help="System prompt.")]
MaxTokOpt = Annotated[int, typer.Option("--max-new-tokens", help="Tokens per model turn.", min=1)]
TempOpt = Annotated[float, typer.Option("--temperature", help="0 = greedy.", min=0.0)]
RoundsOpt = Annotated[int, typer.Option("--max-rounds", help="Tool rounds per user turn.", min=0)]
CtxOpt = Annotated[Optional[int], typer.Option("--ctx-size", "-c", help="Context window in tokens (default: the model's trained context, 8192 for SmolLM2).", min=1, show_default=False)]
TrustOpt = Annotated[bool, typer.Option("--trust-remote-code", help="Let a model that ships its own Python code (an auto_map in its config.json) run that code on this machine, as transformers' trust_remote_code=True does. Off by default: only for models whose code you trust.")]
GpuLayersOpt = Annotated[Optional[int], typer.Option("--gpu-layers", "-ngl", help="Layers llama.cpp offloads to the GPU, -1 for all (default: all when this llama-cpp-python build has a GPU backend, else 0). The transformers backend uses CUDA, then MPS, then the CPU.", min=-1, show_default=False)]


def _fail(message: str) -> None:
    """`error: <message>` on stderr, exit 2. The message is plain text: `messages[i]` must not read as markup."""
    from rich.markup import escape

    from smolthink.train.dist import is_main, rank, world_size

    where = f"[rank {rank()}] " if world_size() > 1 and not is_main() else ""  # under a launcher, once per rank
    err.print(f"[bold red]error:[/] {escape(where + message)}")
    raise typer.Exit(2)


def _session(model, backend, think, tools, tools_files, docs, system, max_new_tokens, temperature, max_rounds,
             ctx_size=None, gpu_layers=None, trust_remote_code=False):
    """Build a ChatSession from CLI options; the tools are resolved (and tools files imported) before the model
    loads, so a bad tool option fails at once."""
    from rich.markup import escape

    from smolthink.backends import GenerationConfig, load_backend
    from smolthink.chat.session import ChatSession
    from smolthink.tools import select_tools
    from smolthink.tools.loader import load_tools_files

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own status line covers loading; stdout stays clean for --json
    names = None if tools is None else [n.strip() for n in tools.split(",") if n.strip()]
    tool_list = select_tools(names, loaded=load_tools_files(tools_files or []), docs_dir=docs)
    for t in tool_list:
        for note in t.notes:  # e.g. the files in --docs that local_search would not read, and why
            err.print(f"[yellow]{t.name} skipped[/] {escape(note)}")
    with err.status("loading model…"):
        engine = load_backend(model, backend, progress=lambda msg: err.print(f"[dim]{msg}[/]"), n_ctx=ctx_size,
                              gpu_layers=gpu_layers, trust_remote_code=trust_remote_code)
    gen = GenerationConfig(max_new_tokens=max_new_tokens, temperature=temperature)
    return ChatSession(engine, tool_list, system=system, think=think, max_rounds=max_rounds, gen=gen)


@app.command()
def models() -> None:
    """List the model references you can use."""
    from rich.table import Table

    from smolthink.models import list_models

    table = Table(title="models")
    for col in ("ref", "kind", "path", "status"):
        table.add_column(col)
    for row in list_models():
        table.add_row(*(str(row.get(c) or "") for c in ("ref", "kind", "path", "status")))
    console.print(table)


@app.command()
def chat(
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    think: ThinkOpt = True,
    tools: ToolsOpt = None,
    tools_file: ToolsFileOpt = None,
    docs: DocsOpt = None,
    system: SystemOpt = None,
    max_new_tokens: MaxTokOpt = 512,
    temperature: TempOpt = 0.0,
    max_rounds: RoundsOpt = 4,
    ctx_size: CtxOpt = None,
    gpu_layers: GpuLayersOpt = None,
    trust_remote_code: TrustOpt = False,
) -> None:
    """Chat interactively: streaming, thinking dimmed, tools as panels; /think, /no_think and /help in the chat."""
    from smolthink.chat.ui import interactive

    session = _session(model, backend, think, tools, tools_file, docs, system, max_new_tokens, temperature, max_rounds,
                       ctx_size, gpu_layers, trust_remote_code)
    interactive(session, console)


@app.command()
def ask(
    prompt: Annotated[str, typer.Argument(help="The question ('-' reads it from standard input).")],
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    think: ThinkOpt = True,
    tools: ToolsOpt = None,
    tools_file: ToolsFileOpt = None,
    docs: DocsOpt = None,
    system: SystemOpt = None,
    max_new_tokens: MaxTokOpt = 512,
    temperature: TempOpt = 0.0,
    max_rounds: RoundsOpt = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole conversation as JSON (for scripts).")] = False,
    ctx_size: CtxOpt = None,
    gpu_layers: GpuLayersOpt = None,
    trust_remote_code: TrustOpt = False,
) -> None:
    """Ask one question and print the answer (with --json: the whole conversation)."""
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        _fail("the prompt is empty")
    session = _session(model, backend, think, tools, tools_file, docs, system, max_new_tokens, temperature, max_rounds,
                       ctx_size, gpu_layers, trust_remote_code)
    _answer(session, prompt, model, as_json)


def _answer(session, text: str, model: Optional[str], as_json: bool, **extra) -> None:
    """Run one turn: stream it for a person, or print the whole conversation as JSON (`extra` keys first)."""
    from smolthink.chat.ui import show_events

    if not as_json:
        show_events(session.send(text), console)
        return
    final = session.ask(text)
    stats = session.backend.stats
    out = {
        **extra,
        "model": model or "smollm2-135m",
        "backend": session.backend.name,
        "think": session.think,
        "tools": session.tool_schemas,
        "messages": session.messages,
        "answer": final.get("content", ""),
        "last_turn": {
            "prompt_tokens": stats.prompt_tokens,
            "completion_tokens": stats.completion_tokens,
            "ttft_s": round(stats.ttft_s, 4),
            "decode_tokens_per_s": round(stats.decode_tokens_per_s, 2),
            "finish_reason": stats.finish_reason,
        },
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))


@app.command()
def demo(
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    max_new_tokens: MaxTokOpt = 256,
    tools_file: Annotated[Optional[list[Path]], typer.Option("--tools-file", help="A Python file whose public, typed, documented functions are offered in the tool-calling exchange too; repeatable. Its code runs, as with `python FILE`.")] = None,
    compare: Annotated[Optional[str], typer.Option("--compare", help="A tuned model: answer the demo prompts with --model (the base) and it, side by side.")] = None,
) -> None:
    """The main job on the embedded model: a thinking exchange and a tool-calling exchange over bundled docs."""
    from smolthink.chat.demo import run_comparison, run_demo
    from smolthink.tools.loader import load_tools_files

    if compare:
        run_comparison(console, base=model, tuned=compare, backend=backend, max_new_tokens=max_new_tokens, fail=_fail)
        return
    own_tools = load_tools_files(tools_file or [])
    run_demo(console, model=model, backend=backend, max_new_tokens=max_new_tokens, fail=_fail, own_tools=own_tools)


TaskThinkOpt = Annotated[bool, typer.Option("--think/--no-think", help="Think before answering (off by default: these tasks need no reasoning, and it costs tokens).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the whole conversation as JSON (for scripts).")]


def _task(task: str, text: str, style: Optional[str], model, backend, think, max_new_tokens, temperature, as_json) -> None:
    """A one-shot task (summarize, rewrite): its system prompt, no tools, the input checked against the context."""
    from smolthink.chat.tasks import DEFAULT_STYLE, check_fits, system_prompt

    system = system_prompt(task, style=style)  # an unknown style fails before the model loads
    if not text.strip():
        _fail("the input is empty")
    session = _session(model, backend, think, "", [], None, system, max_new_tokens, temperature, 0)
    check_fits(session, text)
    _answer(session, text, model, as_json, task=task, **({"style": style or DEFAULT_STYLE} if task == "rewrite" else {}))


@app.command()
def summarize(
    file: Annotated[str, typer.Argument(help="A UTF-8 text file to summarize ('-' reads standard input).")],
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    think: TaskThinkOpt = False,
    max_new_tokens: MaxTokOpt = 256,
    temperature: TempOpt = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Summarize a text in a few sentences on the local model (an input longer than its context is an error)."""
    from smolthink.chat.tasks import read_text_file

    text = sys.stdin.read() if file == "-" else read_text_file(Path(file))
    _task("summarize", text, None, model, backend, think, max_new_tokens, temperature, as_json)


@app.command()
def rewrite(
    text: Annotated[str, typer.Argument(help="The text to rewrite ('-' reads it from standard input).")],
    style: Annotated[Optional[str], typer.Option("--style", help="formal (the default) | casual | concise | simple.")] = None,
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    think: TaskThinkOpt = False,
    max_new_tokens: MaxTokOpt = 256,
    temperature: TempOpt = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Rewrite a text in another style on the local model, keeping its meaning."""
    _task("rewrite", sys.stdin.read() if text == "-" else text, style, model, backend, think, max_new_tokens,
          temperature, as_json)


@app.command()
def agent(
    task: Annotated[Optional[str], typer.Option("--task", help="Do this one task and exit ('-' reads it from standard input); without it, an interactive session.")] = None,
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    think: Annotated[bool, typer.Option("--think/--no-think", help="Thinking mode (switch it in the session with /think and /no_think).")] = True,
    tools: ToolsOpt = None,
    tools_file: ToolsFileOpt = None,
    docs: DocsOpt = None,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Tool rounds per task: how many times the model may call tools and read their results; then it must answer.", min=1)] = 5,
    max_new_tokens: MaxTokOpt = 512,
    temperature: TempOpt = 0.0,
) -> None:
    """Work on a task with tools, step by step, showing each step's reasoning, tool calls and results."""
    from rich.markup import escape

    from smolthink.chat.tasks import system_prompt
    from smolthink.chat.ui import interactive, show_events

    if task == "-":
        task = sys.stdin.read()
    if task is not None and not task.strip():
        _fail("the task is empty")
    session = _session(model, backend, think, tools, tools_file, docs, system_prompt("agent"), max_new_tokens,
                       temperature, max_steps)
    names = ", ".join(t.name for t in session.tools) or "none"
    err.print(f"[dim]tools: {escape(names)} · at most {max_steps} tool rounds per task[/]")
    if task is None:
        interactive(session, console, steps=True, intro="Give the agent a task; each step is shown as it happens.")
    else:
        show_events(session.send(task), console, steps=True)


@app.command()
def serve(
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    host: Annotated[str, typer.Option("--host", help="Interface to listen on (0.0.0.0 exposes it to the network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port.", min=1, max=65535)] = 8000,
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="SMOLTHINK_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1/*.")] = None,
    max_tokens_cap: Annotated[Optional[int], typer.Option("--max-tokens-cap", help="Upper bound on max_tokens per request (default: none beyond the context window).", min=1)] = None,
    ctx_size: CtxOpt = None,
    think: Annotated[Optional[bool], typer.Option("--think/--no-think", help="Think by default (a request's enable_thinking or reasoning_effort still decides). Default: only models trained to think.", show_default=False)] = None,
    parallel: Annotated[int, typer.Option("--parallel", "-np", help="Requests decoded together (llama.cpp backend; each gets the whole context window).", min=1)] = 1,
    gpu_layers: GpuLayersOpt = None,
    trust_remote_code: TrustOpt = False,
) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/models, /health)."""
    from smolthink.serve import serve_command

    if api_key is None and "SMOLTHINK_API_KEY" in os.environ:  # typer reads an empty variable as unset
        _fail("SMOLTHINK_API_KEY is set but empty: set it to the key clients must send, or unset it to serve "
              "without authentication")
    serve_command(model, backend, host=host, port=port, api_key=api_key, max_tokens_cap=max_tokens_cap,
                  ctx_size=ctx_size, think=think, parallel=parallel, gpu_layers=gpu_layers, console=console,
                  trust_remote_code=trust_remote_code)


@app.command()
def train(
    recipe: Annotated[Path, typer.Argument(help="Training recipe YAML (see recipes/).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory (default: runs/<recipe name>); it becomes a model reference.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a recipe key: key=value, e.g. phases.0.max_steps=20 or defaults.learning_rate=1e-4 (repeatable).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last complete checkpoint.")] = False,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="Set the recipe's trust_remote_code: true (a model that ships its own Python code runs it). Off by default.")] = False,
) -> None:
    """Fine-tune a model with a recipe's phases (full or LoRA), on CUDA, MPS or CPU."""
    from smolthink.train.run import Interrupted, train as run_train

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        overrides = [*(set_ or []), *(["trust_remote_code=true"] if trust_remote_code else [])]
        folder = run_train(recipe, out=out, overrides=overrides, resume=resume, console=err)
    except Interrupted as e:
        err.print(f"[yellow]{e}[/]")
        raise typer.Exit(130)
    from smolthink.train.dist import is_main

    if is_main():  # under a launcher every rank returns here
        console.print(f"chat with it: smolthink chat --model {folder}")


@app.command("eval")
def eval_(
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Model reference (see `smolthink chat --help`; default smollm2-135m). Repeat it for several runs of one recipe (e.g. seeds): the report shows mean ± sd across them.")] = None,
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="A second model to compare against (same suites, same prompts), with a paired significance test per category.")] = None,
    suite: Annotated[str, typer.Option("--suite", help="default (all) | bfcl | reasoning | compliance | functions (unseen functions) | search_qa | ifeval, or a comma-separated list")] = "default",
    split: Annotated[str, typer.Option("--split", help="dev | test | all. Make data, template and recipe decisions on dev only; report test.")] = "test",
    limit: Annotated[Optional[int], typer.Option("--limit", help="N cases per category of the split: a fixed random sample (by a hash of the case id), for quick runs; the report marks the categories it cut.", min=1)] = None,
    categories: Annotated[Optional[str], typer.Option("--categories", help="BFCL categories, comma-separated (default: simple_python,multiple,parallel,parallel_multiple,irrelevance).")] = None,
    tasks: Annotated[Optional[str], typer.Option("--tasks", help="Reasoning tasks, comma-separated: gym/<task> or synthetic/<task> (default: every synthetic task and the easy gym tasks (in distribution), six gym tasks no data source trains on (out of distribution) and gym/gsm_symbolic).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory: generations cache, results.json, report.md, report.html.")] = Path("runs/eval"),
    backend: BackendOpt = "auto",
    think: ThinkOpt = True,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Prompts generated together (transformers: padded batches; llama.cpp: parallel sequences).", min=1)] = 8,
    gpu_layers: GpuLayersOpt = None,
    trust_remote_code: TrustOpt = False,
) -> None:
    """Evaluate tool calling (BFCL), verified reasoning and think compliance; compare with a baseline; write a report.

    Every accuracy comes with its n and a 95 % interval; a difference from the baseline with a paired test's p-value.
    Cases are split into dev (a third) and test: decide on dev, report on test."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from smolthink.eval.report import combine, summary_table, write_report
    from smolthink.eval.runner import EvalOptions, cut_by_limit, decontaminate, evaluate_model, load_cases

    options = EvalOptions(suite=suite, split=split, limit=limit, enable_thinking=think, batch_size=batch_size,
                          gpu_layers=gpu_layers, trust_remote_code=trust_remote_code,
                          bfcl_categories=[c.strip() for c in categories.split(",") if c.strip()] if categories else None,
                          reasoning_tasks=[t.strip() for t in tasks.split(",") if t.strip()] if tasks else None)
    refs = (list(dict.fromkeys(model)) if model else [None]) + ([baseline] if baseline else [])
    cases, decontamination = decontaminate(load_cases(options), refs)
    for name in decontamination["hash_files"]:
        err.print(f"[dim]decontaminating against {escape(name)}[/]")
    if decontamination["skipped"]:
        skipped = ", ".join(f"{n} {s}" for s, n in decontamination["skipped"].items())
        err.print(f"skipped {skipped} case(s) whose prompt is in a model's training data")
    settings = {"suite": suite, "split": split, "limit": limit, "think": think, "cases": len(cases),
                "decontamination": decontamination}
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    evaluated: list[dict] = []
    for role, ref in [("model", m) for m in refs[:len(refs) - bool(baseline)]] + ([("baseline", baseline)] if baseline else []):
        with Progress(*columns, console=err) as bar:
            task = bar.add_task(f"{role}: {ref or 'smollm2-135m'}", total=len(cases))
            evaluated.append(evaluate_model(ref, backend, cases, out, options, progress=lambda done, total: bar.update(task, completed=done),
                                            status=lambda msg: err.print(f"[dim]{msg}[/]")))
    runs, base = (evaluated[:-1], evaluated[-1]) if baseline else (evaluated, None)
    results = combine(settings, runs, base, cut_by_limit(options, cases))
    paths = write_report(results, out)
    console.print(summary_table(results))
    console.print(f"report: {paths['html']} (also {paths['markdown'].name}, {paths['results'].name})")


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Model to export: smollm2-135m, a transformers or PEFT adapter directory (merged into its base), a .gguf file or a hub id.")],
    format_: Annotated[str, typer.Option("--format", "-f", help="gguf (one file for llama.cpp) | hf (merged transformers directory, fp32).")] = "gguf",
    quant: Annotated[Optional[str], typer.Option("--quant", "-q", help="GGUF weights: f16 (default) | q8_0 | q5_k_m | q4_k_m | q4_0 (the last three by llama.cpp's quantizer). A NAME.Modelfile for Ollama is written beside NAME.gguf.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output file (gguf) or directory (hf); default: beside the model, or in the current folder.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output.")] = False,
    trust_remote_code: TrustOpt = False,
) -> None:
    """Export a model (merging a LoRA adapter) as a GGUF file for llama.cpp or a transformers directory."""
    from transformers.utils import logging as hf_logging

    from smolthink.export import export_model

    hf_logging.disable_progress_bar()  # the status line below covers loading
    with err.status("exporting…") as status:
        path = export_model(model, format_, quant, out, force=force, progress=lambda msg: status.update(msg),
                            trust_remote_code=trust_remote_code)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    console.print(f"[bold green]wrote[/] {path} ({size / 1e6:,.1f} MB)")


@app.command()
def distill(
    recipe: Annotated[Path, typer.Argument(help="Distill recipe YAML (see recipes/distill/).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: runs/distill/<recipe name>); a rerun on it resumes.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="At most N prompts per source (quick runs).", min=1)] = None,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", "-c", help="Teacher requests in flight (the recipe's `concurrency`).", min=1)] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a recipe key: key.sub=value, e.g. teacher.samples=4 (repeatable).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over in an --out written by a different recipe.")] = False,
) -> None:
    """Ask a teacher model (a server or a local model), keep the verified answers as SFT conversations."""
    from smolthink.distill import distill as run_distill, load_recipe, summary_table

    overrides = [*(set_ or []), *([f"concurrency={concurrency}"] if concurrency else [])]
    spec = load_recipe(recipe, overrides)
    target = out or Path("runs/distill") / spec.name
    summary = run_distill(spec, target, limit=limit, overwrite=overwrite, console=err)
    console.print(summary_table(summary))
    totals = summary["totals"]
    console.print(f"[bold green]wrote[/] {target} ({totals.get('kept', 0):,} kept, "
                  f"{totals.get('samples', 0) - totals.get('kept', 0):,} rejected samples); "
                  f"use it in a data recipe as a source of type: distilled")


data_app = typer.Typer(help="Build and inspect SFT datasets (reasoning + tool calling).", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("build")
def data_build(
    recipe: Annotated[Path, typer.Argument(help="Data recipe YAML (see recipes/data/).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output directory (default: runs/data/<recipe name>).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a recipe key: key.sub=value (repeatable).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output directory.")] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Read or generate at most N rows per source (quick runs).", min=1)] = None,
) -> None:
    """Build a training-ready dataset from a data recipe; rejected rows go to quarantine.jsonl."""
    from smolthink.data.build import build
    from smolthink.data.inspect import phase_table, source_table
    from smolthink.data.recipe import load_recipe

    spec = load_recipe(recipe, set_ or [])
    for source in spec.sources if limit else []:
        source.n = min(source.n, limit) if source.n else limit
    target = out or Path("runs/data") / spec.name
    manifest = build(spec, target, overwrite=overwrite, console=err)
    console.print(source_table(manifest))
    console.print(phase_table(manifest))
    console.print(f"[bold green]wrote[/] {target} ({manifest['splits']['train']:,} train / {manifest['splits']['validation']:,} validation "
                  f"conversations, {manifest['quarantined']:,} quarantined, {manifest['seconds']} s)")


@data_app.command("stats")
def data_stats(folder: Annotated[Path, typer.Argument(help="A built dataset directory.")]) -> None:
    """Print a built dataset's tables and save a length histogram PNG beside it."""
    from smolthink.data.build import load_manifest
    from smolthink.data.inspect import length_histogram, phase_table, source_table

    manifest = load_manifest(folder)
    console.print(source_table(manifest))
    console.print(phase_table(manifest))
    png = length_histogram(folder, folder / "length_histogram.png")
    console.print(f"length histogram: {png}")


@data_app.command("show")
def data_show(
    folder: Annotated[Path, typer.Argument(help="A built dataset directory.")],
    n: Annotated[int, typer.Option("--n", help="How many examples.", min=1)] = 3,
    split: Annotated[str, typer.Option("--split", help="train or validation.")] = "train",
) -> None:
    """Render examples exactly as the model sees them; the trained (assistant) text is highlighted."""
    from smolthink.data.build import load_manifest
    from smolthink.data.inspect import rendered_examples

    manifest = load_manifest(folder)
    texts = rendered_examples(folder, n, split, enable_thinking=manifest["recipe"]["enable_thinking"])
    for text in texts:
        console.print(text)


if __name__ == "__main__":  # pragma: no cover
    app()
