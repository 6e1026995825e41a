"""The in-process execution path: any iterable in, one result per element out, in order."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .blocks import Block
from .execute import AnyHandler, BatchRunner, Clock, Item
from .items import to_item
from .metrics import MetricsSink, NullMetrics
from .results import Failure, Result
from .sharing import SHARED_MODELS

logger = logging.getLogger("infergraph")


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

    The model is loaded once per process and kept loaded for later calls (see
    :data:`infergraph.model_cache`); a model with a fixed batch size is called with batches of
    exactly that size.

    Yields:
        A :class:`Prediction` or a :class:`Failure` per input element; for a block whose rows
        partly fail, a prediction of its good rows and then a failure per bad row.

    Raises:
        ModelLoadError: the model could not be loaded (before any result is yielded).
    """
    sink = metrics if metrics is not None else NullMetrics()
    box = SHARED_MODELS.acquire(handler, sink)
    runner = BatchRunner(handler, box.model, sink)
    progress = _Progress(handler.model_id, progress_every_s, clock)
    limit = max(handler.config.batch_size_limit, runner.fixed or 0)
    for group in _groups(data, handler, keyed, limit, clock):
        items = [entry for entry in group if isinstance(entry, Item)]
        done = iter(runner.process_items(items)) if items else iter(())
        for entry in group:
            for result in [entry] if isinstance(entry, Failure) else next(done):
                progress.record(result)
                yield result
    progress.finish()


def _groups(
    data: Iterable[Any], handler: AnyHandler, keyed: bool | None, limit: int, clock: Clock
) -> Iterator[list[Item | Failure]]:
    """Consecutive elements in groups of ``limit`` (or fewer, after the handler's
    ``max_batch_duration_s``), blocks on their own."""
    node = handler.model_id
    wait = handler.config.max_batch_duration_s
    group: list[Item | Failure] = []
    rows = 0
    started = clock()
    for element in data:
        if keyed is not False and type(element) is tuple and len(element) == 2:
            entry: Item | Failure = _new(Item, element)  # a pair: the item as it is
        else:
            entry = to_item(element, keyed, node)
        if type(entry) is Item and isinstance(entry.example, Block):
            if group:
                yield group
                group, rows = [], 0
            yield [entry]
            continue
        if not group:
            started = clock()
        group.append(entry)
        rows += 1
        if rows >= limit or (wait is not None and clock() - started >= wait):
            yield group
            group, rows = [], 0
    if group:
        yield group


_new = tuple.__new__


class _Progress:
    def __init__(self, node: str, every_s: float, clock: Clock) -> None:
        self.node, self.every_s, self.clock = node, every_s, clock
        self.start = self.last = clock()
        self.elements = self.failures = 0

    def record(self, result: Result) -> None:
        self.elements += 1
        self.failures += isinstance(result, Failure)
        if self.elements % 1024:
            return
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
