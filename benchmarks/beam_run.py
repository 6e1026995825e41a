"""Running a benchmark pipeline on the DirectRunner and counting the rows it finished."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from benchmarks.data import Rows

IN_MEMORY = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
TWO_PROCESSES = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")


class CountRows(beam.DoFn):
    """Adds each result's rows (``rows_of(result)``) to the ``bench/rows`` counter."""

    def __init__(self, rows_of: Callable[[Any], int]) -> None:
        self.rows_of = rows_of
        self.counter = beam.metrics.Metrics.counter("bench", "rows")

    def process(self, result: Any) -> Iterator[Any]:
        self.counter.inc(self.rows_of(result))
        return iter(())


def count_rows(
    rows: Rows,
    transform: beam.PTransform,
    rows_of: Callable[[Any], int],
    *,
    blocks: bool,
    options: Sequence[str] = IN_MEMORY,
) -> int:
    """Run ``Create(range(chunks)) | FlatMap(make_rows) | transform`` and count result rows.

    The pipeline's start-up and teardown are part of the run, as a user sees them.
    """
    return count_from(rows.chunks, rows.make_rows(blocks=blocks), transform, rows_of, options)


def count_from(
    chunks: int,
    make: Callable[[int], Iterator[Any]],
    transform: beam.PTransform,
    rows_of: Callable[[Any], int],
    options: Sequence[str] = IN_MEMORY,
) -> int:
    """Run ``Create(range(chunks)) | FlatMap(make) | transform``; the rows its results hold."""
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    pipeline = beam.Pipeline(runner="DirectRunner", options=PipelineOptions(list(options)))
    _ = (
        pipeline
        | "Chunks" >> beam.Create(list(range(chunks)))
        | "Rows" >> beam.FlatMap(make)
        | "Model" >> transform
        | "Count" >> beam.ParDo(CountRows(rows_of))
    )
    result = pipeline.run()
    result.wait_until_finish()
    query = result.metrics().query(beam.metrics.MetricsFilter().with_name("rows"))
    return int(sum(counter.committed for counter in query["counters"]))


def one(result: Any) -> int:
    """One row per result."""
    return 1


@cache
def _types() -> tuple[type, type]:
    """``(ig.Prediction, ig.Block)``, imported on first use (Beam's own variants never import
    infergraph)."""
    import infergraph as ig

    return ig.Prediction, ig.Block


def prediction_rows(result: Any) -> int:
    """The rows of an infergraph prediction: its output block's rows, or 1.

    Called once per result: two type checks, as cheap as counting can be.
    """
    prediction, block = _types()
    if type(result) is not prediction:
        raise TypeError(f"expected a Prediction, got {result!r}")
    return len(result.output) if type(result.example) is block else 1
