"""llama.cpp's own `llama-server`: the second runtime that shows an exported GGUF works outside smolthink.

`make setup` builds it once from the llama.cpp that llama-cpp-python vendors, with the same CPU flags
(scripts/build-llama-server), caches it beside the llama-cpp-python wheel and links it into the virtual
environment's bin folder, where `binary_path` finds it. With `--jinja`, llama-server renders the GGUF's chat template
with its own Jinja engine and reads the model's `<think>` block and `<tool_call>` blocks back with its own parsers
into the OpenAI fields `reasoning_content` and `tool_calls`. `running` starts one for a test or a script.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# The flags the README gives: llama.cpp's Jinja engine renders the GGUF's template (not its built-in C++ guess of
# the format), and the thinking comes back in `reasoning_content` rather than inside `content`.
SERVER_FLAGS = ("--jinja", "--reasoning-format", "deepseek")


def binary_path() -> Path:
    """The llama-server that `make setup` built ($SMOLTHINK_LLAMA_SERVER overrides it); it may not exist."""
    override = os.environ.get("SMOLTHINK_LLAMA_SERVER")
    return Path(override) if override else Path(sysconfig.get_path("scripts")) / "llama-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(gguf: str | Path, extra_args: Sequence[str] = (), *, startup_timeout: float = 120.0) -> Iterator[str]:
    """Run llama-server on `gguf` at 127.0.0.1 on a free port and yield its base URL once /health answers 200.

    The server is stopped by its PID when the block ends (SIGTERM, then SIGKILL after 10 s). If it exits or is not
    ready in `startup_timeout` seconds, RuntimeError carries the end of its log.
    """
    binary = binary_path()
    if not binary.is_file():
        raise FileNotFoundError(f"{binary} does not exist: `make setup` builds llama-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        # stdout and stderr go to a file, not a pipe: a pipe nobody reads would fill and stall the server
        proc = subprocess.Popen([str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port),
                                 *SERVER_FLAGS, *extra_args], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, proc, log, startup_timeout)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama-server exited with code {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or 503 while the model loads
        time.sleep(0.2)
    raise RuntimeError(f"llama-server was not ready after {timeout:.0f} s:\n{_tail(log)}")


def _tail(log, lines: int = 30) -> str:
    log.seek(0)
    return "\n".join(log.read().decode("utf-8", "replace").splitlines()[-lines:])
