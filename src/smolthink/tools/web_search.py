"""The `web_search` tool: a DuckDuckGo text search through the `ddgs` package.

This module owns querying the web and turning the hits into short plain text
for the model. Results are untrusted text from the internet: they are only
trimmed and passed on as data, never interpreted; `run_tool_call` escapes
their control strings (a page holding "</tool_response>" or "<|im_end|>")
as it does for every tool's output.

When the search cannot be done (offline, rate-limited, timeout) ddgs raises
`DDGSException`; that is an expected condition in a chat, so it is turned into
a message telling the model to answer from its own knowledge instead.
"""

from __future__ import annotations

MAX_RESULTS = 3
SNIPPET_CHARS = 600
TOTAL_CHARS = 2000
REASON_CHARS = 200  # ddgs error messages can embed whole request URLs and backend traces
SEARCH_TIMEOUT_S = 5


def web_search(search_str: str) -> str:
    """Search the web with DuckDuckGo and return the top results (title, URL and snippet).

    Args:
        search_str: The search query, for example "population of Lyon 2024".
    """
    # Imported here so that importing smolthink.tools stays cheap and works without ddgs.
    from ddgs import DDGS
    from ddgs.exceptions import DDGSException

    try:
        hits = DDGS(timeout=SEARCH_TIMEOUT_S).text(search_str, max_results=MAX_RESULTS, backend="auto")
    except DDGSException as err:
        reason = _shorten(str(err) or type(err).__name__, REASON_CHARS)
        return (
            f"search unavailable: {reason}. "
            "Answer from your own knowledge and say that the web could not be searched."
        )
    if not hits:
        return f"no results for {search_str!r}"
    return format_results(hits)


def format_results(hits: list[dict]) -> str:
    """Number the hits as plain text blocks: title, URL, snippet; cap the total length."""
    blocks = []
    for i, hit in enumerate(hits[:MAX_RESULTS], start=1):
        title = _one_line(hit.get("title", ""))
        url = _one_line(hit.get("href", ""))
        snippet = _shorten(_one_line(hit.get("body", "")), SNIPPET_CHARS)
        blocks.append(f"[{i}] {title}\n{url}\n{snippet}")
    return _shorten("\n\n".join(blocks), TOTAL_CHARS)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
