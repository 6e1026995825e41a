"""The core both execution paths share: keys in, batches through the four stages, results out.

``to_item`` reads an input element (with or without a key); ``process_batch`` runs a group of
items through a handler and returns exactly one :class:`Prediction` or :class:`Failure` per item,
in order. A batch that fails is bisected so that only the elements that cause the failure become
failure records; a :class:`BatchError` (no single element is at fault) is not bisected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .blocks import Block, concat_outputs
from .errors import BatchError, InputError, PostprocessError
from .handler import ModelHandler
from .metrics import MetricsSink
from .results import Failure, Prediction, Result, short_repr

AnyHandler = ModelHandler[Any, Any, Any, Any, Any]
Clock = Callable[[], float]


class Item(NamedTuple):
    """One input element on its way through a handler (a tuple: cheap to make per element)."""

    key: Any
    example: Any

    @property
    def rows(self) -> int:
        """Examples this element holds: a block's rows, else 1."""
        return self.example.rows if isinstance(self.example, Block) else 1


def to_item(element: Any, keyed: bool | None, node: str) -> Item | Failure:
    """Read one input element.

    With ``keyed=None`` a 2-tuple is a ``(key, example)`` pair and anything else an unkeyed
    example; ``keyed=True`` requires pairs (anything else is an ``input`` failure) and
    ``keyed=False`` takes every element, tuples included, as the example itself.
    """
    is_pair = isinstance(element, tuple) and len(element) == 2
    if keyed is None:
        keyed = is_pair
    if not keyed:
        return Item(None, element)
    if not is_pair:
        return Failure(
            example=element,
            key=None,
            stage="input",
            node=node,
            error_type=InputError.__name__,
            message=f"expected a (key, example) pair because keyed=True, got "
            f"{type(element).__name__}; pass pairs, or keyed=None to detect them per element",
        )
    return Item(element[0], element[1])


def to_items(
    elements: Sequence[Any], keyed: bool | None, node: str
) -> tuple[list[Item], list[Failure]]:
    """:func:`to_item` of many elements: the items, and the failures of unreadable ones."""
    if keyed is None:  # nothing can fail: one comprehension
        return [
            Item(e[0], e[1]) if isinstance(e, tuple) and len(e) == 2 else Item(None, e)
            for e in elements
        ], []
    items: list[Item] = []
    failures: list[Failure] = []
    for element in elements:
        entry = to_item(element, keyed, node)
        (failures if isinstance(entry, Failure) else items).append(entry)  # type: ignore[arg-type]
    return items, failures


def estimate_nbytes(example: Any) -> int:
    """A cheap size estimate of one example, for byte budgets."""
    if isinstance(example, np.ndarray | Block):
        return int(example.nbytes)
    if isinstance(example, bytes | bytearray | str):
        return len(example)
    if isinstance(example, Mapping):
        return sum(estimate_nbytes(value) for value in example.values())
    if isinstance(example, list | tuple):
        return sum(estimate_nbytes(value) for value in example) if example else 0
    byte_size = getattr(example, "ByteSize", None)
    if callable(byte_size):
        return int(byte_size())
    return 8


def plan_calls(items: Sequence[Item], max_size: int, max_bytes: int | None) -> Iterator[list[Item]]:
    """Split plain (non-block) items into model calls within the size and byte limits."""
    call: list[Item] = []
    call_bytes = 0
    for item in items:
        size = estimate_nbytes(item.example) if max_bytes else 0
        if call and (len(call) >= max_size or (max_bytes and call_bytes + size > max_bytes)):
            yield call
            call, call_bytes = [], 0
        call.append(item)
        call_bytes += size
    if call:
        yield call


class BlockRun(NamedTuple):
    """What :meth:`BatchRunner.run_block` made of a block.

    Attributes:
        ok: One flag per row: whether it got a prediction.
        output: The outputs of the rows that did, in row order (``None`` if none did).
        failures: ``(row, stage, exception)`` of each row that did not.
    """

    ok: np.ndarray[Any, Any]
    output: Any
    failures: list[tuple[int, str, Exception]]


@dataclass
class _Rows:
    """What the model calls of one block made so far: outputs, their rows, failed rows."""

    parts: list[Any] = field(default_factory=list)
    good: list[np.ndarray[Any, Any]] = field(default_factory=list)
    failures: list[tuple[int, str, Exception]] = field(default_factory=list)


class _StageFailed(Exception):
    def __init__(self, stage: str, cause: Exception) -> None:
        super().__init__(stage)
        self.stage = stage
        self.cause = cause


class BatchRunner:
    """Runs groups of items through one handler and one loaded model."""

    def __init__(
        self,
        handler: AnyHandler,
        model: Any,
        metrics: MetricsSink,
        *,
        clock: Clock = time.perf_counter,
    ) -> None:
        self.handler = handler
        self.model = model
        self.metrics = metrics
        self.clock = clock
        self.node = handler.model_id

    def process_batch(self, items: Sequence[Item]) -> list[Result]:
        """The results of ``items``, in order: one per item, except that a block whose rows
        partly fail gives a prediction for its good rows and a failure per bad row."""
        return [result for results in self.process_items(items) for result in results]

    def process_items(self, items: Sequence[Item]) -> list[list[Result]]:
        """The results of each item (see :meth:`process_batch`), grouped by item."""
        results: list[list[Result]] = [[] for _ in items]
        plain = [i for i, item in enumerate(items) if not isinstance(item.example, Block)]
        config = self.handler.config
        slots = iter(plain)
        for call in plan_calls(
            [items[i] for i in plain], config.batch_size_limit, config.max_batch_bytes
        ):
            for result in self._run_isolated(call):
                results[next(slots)].append(result)
        for i, item in enumerate(items):
            if isinstance(item.example, Block):
                results[i] = self._run_block(item)
        assert all(results), "every item gets a result"
        return results

    # -- plain examples ----------------------------------------------------------------------

    def _run_isolated(self, items: list[Item]) -> list[Result]:
        try:
            return self._run_once(items)
        except _StageFailed as failed:
            if len(items) == 1 or isinstance(failed.cause, BatchError):
                return [self._failure(item, failed.stage, failed.cause) for item in items]
            middle = len(items) // 2
            return self._run_isolated(items[:middle]) + self._run_isolated(items[middle:])

    def _run_once(self, items: list[Item]) -> list[Result]:
        examples = [item.example for item in items]
        start = self.clock()
        outputs = self._stage("batch", self.handler.batch, examples)
        outputs = self._stage("run", self.handler.run, self.model, outputs)
        predictions = self._stage("postprocess", self.handler.postprocess, examples, outputs)
        predictions = list(predictions)
        if len(predictions) != len(items):
            raise _StageFailed(
                "postprocess",
                PostprocessError(
                    f"postprocess of handler {self.node!r} returned {len(predictions)} "
                    f"predictions for {len(items)} examples; it must return one per example"
                ),
            )
        self._record_call(len(items), start)
        results: list[Result] = []
        for item, output in zip(items, predictions, strict=True):
            if isinstance(output, Exception):
                results.append(self._failure(item, getattr(output, "stage", "run"), output))
            else:
                results.append(Prediction(item.example, output, self.node, item.key))
        self.metrics.counter("inferences", sum(isinstance(r, Prediction) for r in results))
        return results

    # -- blocks ------------------------------------------------------------------------------

    def _run_block(self, item: Item) -> list[Result]:
        block: Block = item.example
        if not self.handler.accepts_blocks:
            return [
                self._failure(
                    item,
                    "batch",
                    InputError(
                        f"handler {self.node!r} does not accept blocks; pass one example per "
                        "element"
                    ),
                )
            ]
        run = self.run_block(block)
        results: list[Result] = []
        if run.ok.all():
            results.append(Prediction(block, run.output, self.node, item.key))
        elif run.ok.any():
            results.append(Prediction(block.take(run.ok), run.output, self.node, item.key))
        for row, stage, cause in run.failures:
            results.append(self._row_failure(item, row, stage, cause))
        return results

    def run_block(self, block: Block) -> BlockRun:
        """Run every row of ``block`` in model calls of at most ``max_batch_size`` rows.

        A call that fails is bisected by rows, so that only the rows that cause the failure
        fail (a :class:`BatchError` fails its rows without bisection); the good rows' outputs
        come back as one output block, in row order.
        """
        done = _Rows()
        limit = self.handler.config.batch_size_limit
        for start in range(0, block.rows, limit):
            self._run_rows(block, start, min(start + limit, block.rows), done)
        ok = np.zeros(block.rows, dtype=bool)
        output = None
        failures = done.failures
        if done.parts:
            ok[np.concatenate(done.good)] = True
            try:
                output = concat_outputs(done.parts)
            except Exception as exc:  # outputs of rows that do not stack: every row fails
                ok[:] = False
                failures = [(row, "postprocess", exc) for row in range(block.rows)]
                output = None
        if output is not None:
            self.metrics.counter("inferences", int(ok.sum()))
        return BlockRun(ok, output, failures)

    def _run_rows(self, block: Block, start: int, stop: int, done: _Rows) -> None:
        chunk = block.slice(start, stop) if (start, stop) != (0, block.rows) else block
        begin = self.clock()
        try:
            native = self._stage("batch", self.handler.batch_block, chunk)
            outputs = self._stage("run", self.handler.run, self.model, native)
            done.parts.append(
                self._stage("postprocess", self.handler.block_output, chunk, outputs)
            )
        except _StageFailed as failed:
            if stop - start == 1 or isinstance(failed.cause, BatchError):
                done.failures.extend((r, failed.stage, failed.cause) for r in range(start, stop))
                return
            middle = (start + stop) // 2
            self._run_rows(block, start, middle, done)
            self._run_rows(block, middle, stop, done)
            return
        self._record_call(stop - start, begin)
        done.good.append(np.arange(start, stop))

    # -- helpers -----------------------------------------------------------------------------

    def _stage(self, stage: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            raise _StageFailed(stage, exc) from exc

    def _record_call(self, rows: int, start: float) -> None:
        self.metrics.counter("model_calls")
        self.metrics.distribution("batch_size", rows)
        self.metrics.distribution("batch_latency_us", int((self.clock() - start) * 1_000_000))

    def _row_failure(self, item: Item, row: int, stage: str, exc: BaseException) -> Failure:
        block: Block = item.example
        key = item.key if block.keys is None else block.keys[row]
        key = key.item() if isinstance(key, np.generic) else key
        where = f"key {key!r}" if key is not None else "its key-less element"
        self.metrics.counter("failures")
        return Failure(
            example=block.row(row),
            key=key,
            stage=stage,
            node=self.node,
            error_type=type(exc).__name__,
            message=f"{stage} failed in handler {self.node!r} for row {row} of a block "
            f"({where}): {exc}",
        )

    def _failure(self, item: Item, stage: str, exc: BaseException) -> Failure:
        self.metrics.counter("failures")
        return Failure(
            example=item.example,
            key=item.key,
            stage=stage,
            node=self.node,
            error_type=type(exc).__name__,
            message=self.handler.redact(
                f"{stage} failed in handler {self.node!r} for {_describe(item)}: {exc}"
            ),
        )


def _describe(item: Item) -> str:
    if item.key is not None:
        return f"key {item.key!r}"
    return f"example {short_repr(item.example, 60)}"
