"""infergraph's own variants of a single-model benchmark, the same for every handler.

:func:`variants` gives the preparing functions of ``ig-rows``, ``ig-blocks``, ``ig-beam-rows``
and ``ig-beam-blocks`` for a function making the job's handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import infergraph as ig
from benchmarks.beam_run import count_rows, prediction_rows
from benchmarks.data import Rows
from benchmarks.plan import Job

Run = Callable[[], int]
Prepare = Callable[[Job], Run]


def warm_rows(job: Job) -> Rows:
    """The job's rows, their pool built (outside the timed part)."""
    rows = job.bench.rows(job.rows)
    rows.warm()
    return rows


def in_process(model: Any, elements: Any) -> int:
    """Run ``ig.predict`` over ``elements``; the rows its predictions hold."""
    return sum(prediction_rows(result) for result in ig.predict(model, elements))


def variants(handler: Callable[[Job], Any]) -> dict[str, Prepare]:
    """``ig-rows``, ``ig-blocks``, ``ig-beam-rows`` and ``ig-beam-blocks`` of ``handler(job)``."""

    def ig_rows(job: Job) -> Run:
        rows, model = warm_rows(job), handler(job)
        return lambda: in_process(model, rows.each_row())

    def ig_blocks(job: Job) -> Run:
        rows, model = warm_rows(job), handler(job)
        return lambda: in_process(model, (ig.Block(array) for array in rows.arrays()))

    def ig_beam(blocks: bool) -> Prepare:
        def prepare(job: Job) -> Run:
            rows, model = warm_rows(job), handler(job)
            return lambda: count_rows(
                rows, ig.RunInference(model), prediction_rows, blocks=blocks
            )

        return prepare

    return {
        "ig-rows": ig_rows,
        "ig-blocks": ig_blocks,
        "ig-beam-rows": ig_beam(blocks=False),
        "ig-beam-blocks": ig_beam(blocks=True),
    }
