"""The run as markdown: the table of records, the targets, and the machine."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.machine import one_line
from benchmarks.records import Record
from benchmarks.targets import judge

COLUMNS = ("model", "variant", "rows", "rows/s", "vs raw", "vs Beam", "peak RSS (MB)")
ALIGN = ("---", "---", "---:", "---:", "---:", "---:", "---:")


def table(records: Sequence[Record]) -> str:
    """One row per record, grouped by model in the run's order; notes after the table."""
    lines = [_row(COLUMNS), _row(ALIGN)]
    notes: list[str] = []
    shown_model = None
    for record in records:
        model = record["title"] if record["model"] != shown_model else ""
        shown_model = record["model"]
        label = record["label"]
        if record["status"] != "ok":
            notes.append(f"{record['title']}, {label}: {record['note']}")
            label += f" [{len(notes)}]"
        lines.append(
            _row(
                (
                    model,
                    label,
                    f"{record['rows']:,}",
                    _number(record.get("rows_per_s"), record["status"]),
                    _ratio(record.get("vs_raw")),
                    _ratio(record.get("vs_beam")),
                    _number(record.get("peak_rss_mb") if record["status"] == "ok" else None, "ok"),
                )
            )
        )
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "\n".join(f"[{i}] {note}" for i, note in enumerate(notes, 1)) + "\n"
    return text


def targets(records: Sequence[Record]) -> str:
    """The targets as a markdown list: met, not met or not measured, with the numbers."""
    return "".join(
        f"- **{v.word}**: {v.target}: {v.detail}\n" for v in judge(records)
    )


def machine(records: Sequence[Record]) -> str:
    """The machine the records were measured on (one line)."""
    machines = {one_line(r["machine"]) for r in records}
    return "; ".join(sorted(machines)) + "\n"


def settings(records: Sequence[Record]) -> str:
    """Repeats per variant (the median is shown) and how each model is fed."""
    repeats = sorted({r["repeats"] for r in records if r["status"] == "ok"})
    models = {}
    for record in records:
        models.setdefault(record["title"], f"{record['title']}: {record['feed']}")
    loads = [load for r in records for load in r.get("load_avg_1m", [])]
    load = (
        f" The machine's 1-minute load average before each sample (this run's own work "
        f"included): {min(loads):.1f} to {max(loads):.1f}; other work on the machine makes the "
        "numbers noisier."
        if loads else ""
    )
    return (
        f"Each variant ran {' or '.join(map(str, repeats))} time(s), in rounds, each time in a "
        "fresh process; the table shows the median. "
        + "; ".join(models.values())
        + "."
        + load
        + "\n"
    )


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _number(value: float | None, status: str) -> str:
    if status == "skipped":
        return "not available"
    if status == "failed":
        return "failed"
    return "—" if value is None else f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
