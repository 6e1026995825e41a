"""The chart of a run: rows per second of each variant, one panel per model (needs matplotlib).

The PNG's ``Source`` text chunk names the JSON file it was drawn from and that file's SHA-256,
so a test can check that the committed chart shows the committed records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from benchmarks.records import Record

BASELINE_COLOR = "#9e9e9e"
INFERGRAPH_COLOR = "#1f77b4"


def source_tag(json_path: Path) -> str:
    """The ``Source`` text of a chart drawn from ``json_path``."""
    digest = hashlib.sha256(json_path.read_bytes()).hexdigest()
    return f"{json_path.name} sha256={digest}"


def shown(records: Sequence[Record]) -> dict[str, list[Record]]:
    """Per model title, one record per variant: the one on the most rows."""
    panels: dict[str, dict[str, Record]] = {}
    for record in records:
        variants = panels.setdefault(record["title"], {})
        current = variants.get(record["variant"])
        if current is None or record["rows"] > current["rows"]:
            variants[record["variant"]] = record
    return {title: list(variants.values()) for title, variants in panels.items()}


def draw(records: Sequence[Record], json_path: Path, out: Path) -> None:
    """Draw the chart of ``records`` (read from ``json_path``) as a PNG at ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = shown(records)
    heights = [len(bars) for bars in panels.values()]
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(12, 0.8 + 0.3 * sum(heights) + 0.55 * len(panels)),
        gridspec_kw={"height_ratios": heights}, squeeze=False, layout="constrained",
    )
    for axis, (title, bars) in zip(axes[:, 0], panels.items(), strict=True):
        _panel(axis, title, bars)
    repeats = sorted({r["repeats"] for r in records if r["status"] == "ok"})
    figure.suptitle(
        f"rows per second (log scale), median of {'/'.join(map(str, repeats))} repeat(s); "
        "grey: raw runtime and Beam's own handler",
        fontsize=10,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100, metadata={"Source": source_tag(json_path)})
    plt.close(figure)


def _panel(axis: object, title: str, bars: list[Record]) -> None:
    labels = [f"{r['label']} ({r['rows']:,} rows)" for r in bars]
    values = [r["rows_per_s"] if r["status"] == "ok" else 0.0 for r in bars]
    colors = [
        BASELINE_COLOR if r["variant"] in ("raw", "beam") else INFERGRAPH_COLOR for r in bars
    ]
    positions = list(range(len(bars)))[::-1]
    axis.barh(positions, values, color=colors)  # type: ignore[attr-defined]
    axis.set_yticks(positions, labels, fontsize=8)  # type: ignore[attr-defined]
    axis.set_xscale("log")  # type: ignore[attr-defined]
    measured = [v for v in values if v] or [1.0]
    left = min(measured) / 4
    axis.set_xlim(left, max(measured) * 12)  # type: ignore[attr-defined]
    axis.set_title(title, fontsize=9, loc="left")  # type: ignore[attr-defined]
    for position, record, value in zip(positions, bars, values, strict=True):
        axis.text(  # type: ignore[attr-defined]
            value if value else left, position, f"  {_annotation(record)}", va="center", fontsize=7
        )


def _annotation(record: Record) -> str:
    if record["status"] != "ok":
        return "not available" if record["status"] == "skipped" else "failed"
    parts = [f"{record['rows_per_s']:,.0f}/s"]
    if record.get("vs_raw") is not None and record["variant"] != "raw":
        parts.append(f"{record['vs_raw']:.2f}x raw")
    if record.get("vs_beam") is not None and record["variant"] != "beam":
        parts.append(f"{record['vs_beam']:.2f}x Beam")
    return ", ".join(parts)
