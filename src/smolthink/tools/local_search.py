"""The `local_search` tool: offline BM25 search over the user's own text files.

This module owns the private alternative to web search: it reads every text
document under a folder, cuts it into passages of roughly `passage_words`
words, indexes them with BM25 (`bm25s`), and returns the best passages for a
query together with the file they come from. Nothing leaves the machine.

Whatever it indexes, the model can read back, so it reads only what the user
put in the folder: regular files whose real path (symlinks resolved) lies
inside it, at most MAX_FILE_BYTES each and MAX_FILES in all. A link to
/etc/passwd or /proc/self/environ (the process environment, API keys
included), a FIFO, a device, a huge file are skipped, and `LocalSearch.skipped`
(also the tool's `notes`) says which and why. Links to directories are not
followed: a target inside the folder is indexed under its own path anyway.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import bm25s

from smolthink.tools import Tool, tool

TEXT_EXTENSIONS = (".txt", ".md", ".markdown", ".rst")
MAX_FILE_BYTES = 2_000_000
MAX_FILES = 2000
# Pseudo-filesystems: their "regular files" are views of the running system, never documents, even when
# --docs itself points there (/proc/self holds environ, the process environment).
SYSTEM_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


@dataclass(frozen=True)
class Passage:
    source: str  # path relative to the indexed folder, with forward slashes
    text: str


class LocalSearch:
    """A BM25 index over the text files of one folder (searched recursively).

    `skipped` lists what was not indexed, one "path: reason" line each (links outside the folder, FIFOs,
    files over MAX_FILE_BYTES, the rest past MAX_FILES…); `as_tool()` passes it on as the tool's `notes`.
    """

    def __init__(self, docs_dir: str | Path, *, passage_words: int = 120, top_k: int = 3):
        if passage_words < 1 or top_k < 1:
            raise ValueError(f"passage_words and top_k must be >= 1, got {passage_words} and {top_k}")
        self.docs_dir = Path(docs_dir)
        self.top_k = top_k
        if not self.docs_dir.is_dir():
            raise FileNotFoundError(f"documents folder not found: {self.docs_dir}")
        passages, self.skipped = _read_passages(self.docs_dir, passage_words)
        tokens = _tokenize([p.text for p in passages])
        # Passages with no indexable word (empty, or only stopwords/punctuation) can never match;
        # and bm25s.index fails with "max() arg is an empty sequence" if no passage has any word.
        kept = [(p, t) for p, t in zip(passages, tokens) if t]
        if not kept:
            skipped = f"; skipped: {'; '.join(self.skipped[:3])}" if self.skipped else ""
            raise ValueError(
                f"no searchable text in {self.docs_dir} "
                f"(looked for non-empty {', '.join(TEXT_EXTENSIONS)} files, recursively){skipped}"
            )
        self.passages = [p for p, _ in kept]
        self._retriever = bm25s.BM25()
        self._retriever.index([t for _, t in kept], show_progress=False)

    def search(self, query: str) -> str:
        """Return the best passages as "[n] path\\npassage" blocks, or a no-match message."""
        query_tokens = _tokenize([query])
        # bm25s does not raise for a query made only of stopwords or unknown words: it returns
        # arbitrary documents with score 0. Those are not matches, so zero scores are dropped below.
        # It does raise if k exceeds the number of passages, hence the min().
        k = min(self.top_k, len(self.passages))
        doc_ids, scores = self._retriever.retrieve(query_tokens, k=k, show_progress=False)
        hits = [(int(i), float(s)) for i, s in zip(doc_ids[0], scores[0]) if s > 0]
        if not hits:
            return f"no passages match {query!r} in the local documents"
        blocks = []
        for n, (i, _score) in enumerate(hits, start=1):
            passage = self.passages[i]
            blocks.append(f"[{n}] {passage.source}\n{passage.text}")
        return "\n\n".join(blocks)

    def as_tool(self, *, timeout: float = 30.0) -> Tool:
        """Wrap `search` as the `local_search` tool (the name the chat template and the model see)."""

        def local_search(query: str) -> str:
            """Search the user's local documents (private notes and files on this computer) and return the most relevant passages with their file names.

            Args:
                query: Keywords describing what to look for, for example "invoice deadline march".
            """
            return self.search(query)

        return dataclasses.replace(tool(local_search, timeout=timeout), notes=tuple(self.skipped))


def _tokenize(texts: list[str]) -> list[list[str]]:
    """Lowercased word tokens without English stopwords; the same for documents and queries."""
    return bm25s.tokenize(texts, stopwords="en", show_progress=False, return_ids=False)


class _Skipped(Exception):
    """A file that is not indexed; the message says why."""


def _read_passages(docs_dir: Path, passage_words: int) -> tuple[list[Passage], list[str]]:
    """The passages of the folder's documents, and one "path: reason" line per file (or folder) skipped."""
    root = docs_dir.resolve()
    passages: list[Passage] = []
    skipped: list[str] = []
    read: set[Path] = set()  # real paths: a link to a file inside the folder does not index it twice
    for n, path in enumerate(_text_files(docs_dir, root, skipped)):
        source = path.relative_to(docs_dir).as_posix()
        if n == MAX_FILES:
            skipped.append(f"{source} and the rest of the folder: stopped after {MAX_FILES} files")
            break
        try:
            real, text = _read_document(path, root)
        except _Skipped as why:
            skipped.append(f"{source}: {why}")
            continue
        if real not in read:
            read.add(real)
            passages.extend(Passage(source, chunk) for chunk in split_passages(text, passage_words))
    return passages, skipped


def _text_files(docs_dir: Path, root: Path, skipped: list[str]):
    """The folder's files with a text extension, in a stable order, without following links to directories."""

    def unreadable(error: OSError) -> None:
        skipped.append(f"{Path(error.filename).relative_to(docs_dir).as_posix()}: cannot be read ({error.strerror})")

    for folder, dirs, files in os.walk(docs_dir, onerror=unreadable):
        here = Path(folder)
        dirs.sort()
        for link in [here / d for d in dirs if (here / d).is_symlink()]:
            dirs.remove(link.name)  # os.walk lists links to directories here but, rightly, does not descend into them
            target = link.resolve()
            if not target.is_relative_to(root):
                skipped.append(f"{link.relative_to(docs_dir).as_posix()}: links outside the folder (to {target})")
        yield from (here / f for f in sorted(files) if Path(f).suffix.lower() in TEXT_EXTENSIONS)


def _read_document(path: Path, root: Path) -> tuple[Path, str]:
    """(real path, text) of a regular file inside `root`, at most MAX_FILE_BYTES; raises _Skipped otherwise."""
    real = path.resolve()
    if not real.is_relative_to(root):
        raise _Skipped(f"links outside the folder (to {real})")
    if any(real.is_relative_to(system) for system in SYSTEM_ROOTS):
        raise _Skipped(f"is a view of the running system ({real}), not a document")
    try:
        # O_NOFOLLOW: the real path checked above is the file opened, even if a link appears there meanwhile.
        # O_NONBLOCK: opening a FIFO would otherwise wait forever for a writer.
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise _Skipped(f"cannot be read ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _Skipped("is not a regular file (a FIFO, socket or device)")
        data = f.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows or its size was wrong
    if len(data) > MAX_FILE_BYTES:
        raise _Skipped(f"is larger than {MAX_FILE_BYTES:,} bytes")
    return real, data.decode("utf-8", errors="replace")


def split_passages(text: str, passage_words: int) -> list[str]:
    """Cut text into passages of about `passage_words` words.

    Paragraphs (separated by blank lines) are kept whole where possible: small
    ones are merged with the next until the passage is full, and paragraphs
    longer than `passage_words` are cut into `passage_words`-word pieces.
    """
    passages: list[str] = []
    current: list[str] = []  # paragraphs of the passage being built
    current_words = 0
    for paragraph in re.split(r"\n\s*\n", text):
        words = paragraph.split()
        if not words:
            continue
        if len(words) > passage_words:
            if current:
                passages.append("\n\n".join(current))
                current, current_words = [], 0
            for start in range(0, len(words), passage_words):
                passages.append(" ".join(words[start : start + passage_words]))
            continue
        if current_words + len(words) > passage_words and current:
            passages.append("\n\n".join(current))
            current, current_words = [], 0
        # Collapse internal whitespace runs but keep the paragraph's line breaks readable.
        current.append("\n".join(" ".join(line.split()) for line in paragraph.strip().splitlines()))
        current_words += len(words)
    if current:
        passages.append("\n\n".join(current))
    return passages
