"""What the pipeline commands show: a live progress bar with rows/s, and a summary at the end."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from ..io.formats import records_in
from ..io.paths import local_files

if TYPE_CHECKING:
    from ..beam.run_files import Counter, RunSummary
    from ..io.columnar import BlockSource
    from ..io.sources import Source


def count_records(inputs: Sequence[tuple[Source | BlockSource, str]]) -> int | None:
    """Input records in local files (lines, CSV rows, TFRecords), or ``None`` if unknown."""
    total = 0
    for source, pattern in inputs:
        files = local_files(pattern)
        if files is None:
            return None
        for path in files:
            count = records_in(source.format, path)
            if count is None:
                return None
            total += count
    return total


@contextmanager
def progress(
    counter: Counter, total: int | None, enabled: bool, *, every_s: float = 0.2
) -> Iterator[None]:
    """Show ``counter`` as a live bar on stderr (a terminal only) while the block runs."""
    stream = sys.stderr
    if not enabled or not stream.isatty():
        yield
        return
    from rich.console import Console  # noqa: PLC0415 (rich: the live bar only)
    from rich.progress import (  # noqa: PLC0415 (rich: the live bar only)
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
    ]
    done = threading.Event()
    start = counter.value
    console = Console(file=stream, force_terminal=True)
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("running", total=total, rate="-")

        def refresh() -> None:
            while not done.wait(every_s):
                finished = counter.value - start
                speed = bar.tasks[0].speed
                bar.update(task, completed=finished, rate=f"{speed:,.0f}" if speed else "-")

        thread = threading.Thread(target=refresh, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


def print_summary(
    summary: RunSummary,
    outputs: Sequence[str],
    failures_path: str,
    out: IO[str] | None = None,
) -> None:
    """The summary: elements by status, wall time and rate, files written, and a node table."""
    out = out or sys.stdout
    rate = summary.elements / summary.wall_s if summary.wall_s > 0 else 0.0
    print(
        f"{summary.elements} elements in {summary.wall_s:.1f} s ({rate:,.0f}/s): "
        f"{summary.ok} ok, {summary.partial} partial, {summary.failed} failed, "
        f"{summary.skipped} skipped",
        file=out,
    )
    for path in outputs:
        print(f"results  -> {path}", file=out)
    print(f"failures -> {failures_path} ({summary.failed})", file=out)
    header = ("node", "elements", "failures", "skipped", "model calls", "latency/element")
    rows = [
        (
            node.name,
            str(node.elements),
            str(node.failures),
            str(node.skipped),
            str(node.model_calls),
            _duration(node.latency_us) if node.elements else "-",
        )
        for node in summary.nodes
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells), file=out)


def _duration(us: float) -> str:
    if us >= 1_000_000:
        return f"{us / 1_000_000:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} µs"
