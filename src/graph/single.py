"""One handler as a one-node graph: ``predict`` and ``RunInference`` on the graph's engine.

A handler's results are its node's view of the graph's results: a :class:`Prediction` per
element that got a value, its :class:`Failure` otherwise; for a block, a prediction of its good
rows and then a failure per bad row, in row order. Failures name the handler's ``model_id``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from itertools import repeat
from typing import Any

import numpy as np

from ..core.ahead import one_ahead
from ..core.errors import InputError
from ..core.handler import ModelHandler
from ..core.metrics import MetricsSink, NullMetrics
from ..core.results import Failure, Prediction, Result
from .block_state import BlockResult, row_of, take_rows
from .graph import Graph
from .run import GraphRunner, GraphStats, chunks
from .state import GraphResult

logger = logging.getLogger("infergraph")

AnyHandler = ModelHandler[Any, Any, Any, Any, Any]
Clock = Callable[[], float]


def predict(
    handler: AnyHandler,
    data: Iterable[Any],
    *,
    keyed: bool | None = None,
    metrics: MetricsSink | None = None,
    progress_every_s: float = 30.0,
    clock: Clock = time.monotonic,
) -> Iterator[Result]:
    """Run ``handler`` over ``data`` in this process, yielding one result per element, in order.

    Args:
        handler: The handler, e.g. from :func:`infergraph.handler`.
        data: Examples, ``(key, example)`` pairs, or :class:`Block` elements (see ``keyed``).
        keyed: ``None`` treats 2-tuples as ``(key, example)``; ``True`` requires pairs;
            ``False`` takes every element as the example.
        metrics: A sink such as :class:`infergraph.RunStats` to read counters afterwards.
        progress_every_s: Log progress (elements, rate, failures) at INFO this often.
        clock: Monotonic clock in seconds (a seam for tests).

    It runs the handler as a one-node graph: the same engine as :meth:`Graph.run`. The model
    is loaded once per process and kept loaded for later calls (see
    :data:`infergraph.model_cache`); a model with a fixed batch size is called with batches of
    exactly that size. A dict example goes to the handler by the input rule of
    :mod:`infergraph.core.fields` (a record of one field: its value). Each chunk of ``data``
    runs on a worker thread while the next one is read (see :mod:`infergraph.core.ahead`;
    ``INFERGRAPH_OVERLAP=0`` turns it off): a chunk's results come once the next chunk has
    been read or ``data`` has ended.

    Yields:
        A :class:`Prediction` or a :class:`Failure` per input element; for a block whose rows
        partly fail, a prediction of its good rows and then a failure per bad row.

    Raises:
        ModelLoadError: the model could not be loaded (before any result is yielded).
    """
    node = handler.model_id
    sink = metrics if metrics is not None else NullMetrics()
    runner = GraphRunner(Graph.of_handler(handler), metrics=GraphStats(nodes={node: sink}))
    progress = _Progress(node, progress_every_s, clock)
    fixed = runner.runners[node].fixed or 0

    def work(chunk: list[Any]) -> list[BlockResult]:
        return runner.run_blocks(chunk, keyed=keyed)

    size = max(runner.batch_limit(), fixed)
    # Each chunk runs on a worker thread while the next one is read (see core.ahead).
    for blocks in one_ahead(work, chunks(data, size, runner.max_wait_s(), clock)):
        for block in blocks:
            made = each_prediction(block, node)
            if made is not None:  # every row got a value: made as they are read
                progress.record_rows(block.rows)
                yield from made
                continue
            results = node_results(block, node, fixed)
            progress.record(results)
            yield from results
    progress.finish()


def node_results(
    result: GraphResult | BlockResult, node: str, fixed: int = 0
) -> list[Result]:
    """A one-node graph's result as its handler's results (see the module's docstring)."""
    if isinstance(result, GraphResult):
        if node in result.values:
            return [Prediction(result.example, result.values[node], node, result.key)]
        return [_named(result.failures[node], node)]
    if result.from_rows:
        return _each_row(result, node)
    if not result.rows:
        return [_empty(result, node, fixed)]
    valid = result.valid[node]
    out: list[Result] = []
    if valid.all():
        out.append(Prediction(result.example, result.values[node], node, result.key))
    elif valid.any():
        kept = np.flatnonzero(valid)
        output = take_rows(result.values[node], kept)
        out.append(Prediction(result.example.take(kept), output, node, result.key))
    failures = result.failures[node]
    out += [_named(failures[row], node) for row in sorted(failures)]
    return out


def _each_row(result: BlockResult, node: str) -> list[Result]:
    """A result per row of elements that came one at a time: its prediction or its failure."""
    valid, failures = result.valid[node], result.failures[node]
    keys, examples = result.example.keys, result.example.data
    assert keys is not None and isinstance(examples, np.ndarray)
    if not valid.all():
        values = result.values.get(node)
        return [
            Prediction(examples[row], row_of(values, row), node, keys[row])
            if ok
            else _named(failures[row], node)
            for row, ok in enumerate(valid.tolist())
        ]
    made = each_prediction(result, node)
    return [] if made is None else list(made)


def each_prediction(result: BlockResult, node: str) -> Iterator[Prediction[Any]] | None:
    """The predictions of a block of elements that came one at a time, when every row got a
    value of ``node`` (else ``None``), made one by one as they are read.

    Made as they are read, each can be freed before the next is made: a batch of them is never
    alive at once, so none lives long enough for Python's garbage collector to walk it again
    and again (a tenth of a per-row run's time when they were made as a list).
    """
    valid = result.valid[node]
    if not result.from_rows or not len(valid) or not valid.all():
        return None
    keys, examples = result.example.keys, result.example.data
    assert keys is not None and isinstance(examples, np.ndarray)
    outputs = result.values[node]
    rows = list(outputs) if isinstance(outputs, np.ndarray) else _rows_of(outputs, result.rows)
    if len(rows) != len(examples):
        raise AssertionError(f"{len(rows)} outputs for {len(examples)} rows of {node!r}")
    # map() makes them with no loop of ours per row: about a fifth faster than a comprehension
    return map(Prediction, examples.tolist(), rows, repeat(node), keys.tolist())


def _rows_of(column: Any, rows: int) -> list[Any]:
    return [row_of(column, row) for row in range(rows)]


def _empty(result: BlockResult, node: str, fixed: int) -> Result:
    """A block of no rows: the model's output for it, or why there is none."""
    if node in result.values:
        return Prediction(result.example, result.values[node], node, result.key)
    why = f"needs batches of exactly {fixed}" if fixed else "failed on it"
    error = InputError(
        f"the block has no rows, and the model of handler {node!r} {why}; leave empty blocks out"
    )
    return Failure(result.example, result.key, "batch", node, type(error).__name__, str(error))


def _named(failure: Failure, node: str) -> Failure:
    return failure if failure.node == node else replace(failure, node=node)


class _Progress:
    def __init__(self, node: str, every_s: float, clock: Clock) -> None:
        self.node, self.every_s, self.clock = node, every_s, clock
        self.start = self.last = clock()
        self.elements = self.failures = 0

    def record(self, results: list[Result]) -> None:
        """Count ``results``, predictions and failures."""
        self.failures += sum(type(result) is Failure for result in results)
        self.record_rows(len(results))

    def record_rows(self, count: int) -> None:
        """Count ``count`` predictions."""
        self.elements += count
        now = self.clock()
        if now - self.last >= self.every_s:
            self.last = now
            self._log("running")

    def finish(self) -> None:
        if self.clock() - self.start >= self.every_s:
            self._log("done")

    def _log(self, state: str) -> None:
        elapsed = max(self.clock() - self.start, 1e-9)
        logger.info(
            "%s %s: %d elements (%.0f/s), %d failures",
            self.node,
            state,
            self.elements,
            self.elements / elapsed,
            self.failures,
        )


__all__ = ["each_prediction", "node_results", "predict"]
