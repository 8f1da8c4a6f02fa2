"""Looking at a built dataset: summary tables, a length histogram, and examples rendered as the model sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from smolthink.data.build import SPLITS, BuildError, load_conversations, load_manifest, load_part, load_tokenizer
from smolthink.formats import render_spans


def source_table(manifest: dict[str, Any]) -> Table:
    """Per source: rows read, kept after filters and dedup, selected for the mixture, and rejections by reason."""
    table = Table(title="sources")
    for col in ("source", "type", "read", "kept", "selected", "rejected (reason: count)"):
        table.add_column(col, justify="right" if col in ("read", "kept", "selected") else "left")
    for name, s in manifest["sources"].items():
        reasons = ", ".join(f"{r}: {c}" for r, c in sorted(s["rejected"].items(), key=lambda x: -x[1])) or "-"
        selected = str(s.get("selected", "-")) + (" (short)" if s.get("short") else "")
        table.add_row(name, s["type"], str(s["read"]), str(s["kept"]), selected, reasons)
    return table


def phase_table(manifest: dict[str, Any]) -> Table:
    table = Table(title="phases (tokens)")
    for col in ("phase", "window/stride", "split", "examples", "windows", "cut", "tokens", "loss tokens", "mean len", "max len"):
        table.add_column(col, justify="left" if col in ("phase", "split", "window/stride") else "right")
    for name, p in manifest["phases"].items():
        for split in SPLITS:
            s = p[split]
            table.add_row(name, f"{p['window']}/{p['stride']}", split, f"{s['examples']:,}", f"{s['windows']:,}", f"{s['cut_examples']:,}",
                          f"{s['tokens']:,}", f"{s['loss_tokens']:,}", str(s["mean_length"]), str(s["max_length"]))
    return table


def length_histogram(folder: str | Path, out_png: str | Path) -> Path:
    """Histogram of window lengths per phase (train split), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    manifest = load_manifest(folder)
    phases = list(manifest["phases"])
    windows = {name: load_part(folder, name, ("input_ids",))["train"]["input_ids"] for name in phases}
    fig, axes = plt.subplots(1, len(phases), figsize=(5 * len(phases), 3.5), squeeze=False)
    for ax, name in zip(axes[0], phases):
        lengths = [len(x) for x in windows[name]]
        ax.hist(lengths, bins=40, color="#4c72b0")
        ax.axvline(manifest["phases"][name]["window"], color="#c44e52", linestyle="--", label="window")
        ax.set_title(f"{name}: {len(lengths):,} windows")
        ax.set_xlabel("tokens")
        ax.set_ylabel("count")
        ax.legend()
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def rendered_examples(folder: str | Path, n: int, split: str = "train", enable_thinking: bool = True) -> list[Text]:
    """The first n conversations as the model sees them; trained (assistant) text highlighted."""
    rows = load_conversations(folder, split)
    if not rows:
        raise BuildError(f"{folder}: the {split} split is empty (0 conversations), nothing to show"
                         + ("; try --split train" if split != "train" else ""))
    manifest = load_manifest(folder)
    template, tool_style = None, "xml"
    if (manifest.get("chat_template") or {}).get("name") == "model":  # built with the model's own template
        template = load_tokenizer(manifest["tokenizer"]).chat_template
        tool_style = manifest["recipe"].get("tool_style", "xml")
    out = []
    for row in rows[:n]:
        text, spans = render_spans(row["messages"], row["tools"], enable_thinking=enable_thinking, template=template,
                                   tool_style=tool_style)
        rich_text = Text(f"── {row['source']} / {row['row_id']} ──\n", style="bold cyan")
        pos = 0
        for start, end in spans:
            rich_text.append(text[pos:start], style="dim")
            rich_text.append(text[start:end], style="green")
            pos = end
        rich_text.append(text[pos:], style="dim")
        out.append(rich_text)
    return out
