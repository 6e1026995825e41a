"""The batch runner: rows through one handler's stages, in model calls, failures isolated.

:class:`BatchRunner` gives the graph's engine two answers of the same shape, a
:class:`BlockRun` (which rows got an output, their outputs, each failed row's stage and
exception): :meth:`BatchRunner.run_block` for a block through the handler's block path, and
:meth:`BatchRunner.run_rows` for rows through ``batch``, ``run`` and ``postprocess``. Whatever a
handler stage raises or returns is handled inside the stage guard, so nothing escapes and
nothing is lost:

- a batch that fails is bisected so that only the elements that cause the failure become
  failure records; a block is bisected by rows the same way; a :class:`BatchError` (no single
  element is at fault, a timeout included) is not bisected;
- an out-of-memory error halves the batch and lowers the model's batch limit for the process
  (see :mod:`infergraph.core.memory`) instead of failing elements;
- a model with a fixed batch size is always called with exactly that many examples (block
  rows), the last partial batch padded with copies of its last example;
- with ``run_timeout_s``, a model call that runs too long fails its batch
  (see :mod:`infergraph.core.timeouts`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .blocks import Block, concat_outputs
from .calls import Item, chunks, estimate_nbytes, padded, padded_block, plan_calls
from .errors import BatchError, ModelTimeoutError
from .handler import ModelHandler
from .memory import BATCH_CAPS
from .metrics import MetricsSink
from .outputs import block_rows, exception_text, first_rows, predictions_list
from .timeouts import TimedCalls, timed_calls

__all__ = [
    "AnyHandler",
    "BatchRunner",
    "BlockRun",
    "Clock",
    "Item",
    "estimate_nbytes",
    "plan_calls",
]

AnyHandler = ModelHandler[Any, Any, Any, Any, Any]
Clock = Callable[[], float]

logger = logging.getLogger("infergraph")

_logged: set[tuple[str, str]] = set()
_logged_lock = threading.Lock()


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


class RowFailed(NamedTuple):
    """A failed row in :meth:`BatchRunner.run_rows`: its stage and the exception."""

    item: Item
    stage: str
    cause: Exception


_new = tuple.__new__


class _StageFailed(Exception):
    def __init__(self, stage: str, cause: Exception) -> None:
        super().__init__(stage)
        self.stage = stage
        self.cause = cause


class BatchRunner:
    """Runs groups of items through one handler and one loaded model.

    Attributes:
        fixed: The batch size the model requires (see :meth:`ModelHandler.fixed_batch_size`),
            or ``None``.
    """

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
        self.key = handler.cache_key()
        self.fixed = self._fixed_batch_size()
        timeout = handler.config.run_timeout_s
        self._timed: TimedCalls | None = (
            timed_calls(self.key, timeout, f"handler {self.node!r}") if timeout else None
        )

    def call_size(self) -> int:
        """Examples (rows) per model call now: the fixed size, else the limit (lowered by OOM)."""
        if self.fixed:
            return self.fixed
        limit = self.handler.config.batch_size_limit
        cap = BATCH_CAPS.get(self.key)
        return min(limit, cap) if cap else limit

    def run_rows(self, examples: Sequence[Any]) -> BlockRun:
        """Run ``examples`` (one per row) through ``batch``, ``run`` and ``postprocess``, in
        calls within ``max_batch_size`` and ``max_batch_bytes``: the rows of a block for a
        handler with no block path, or whose rows are values as they came (an object column).

        The same answer as :meth:`run_block`, so the graph treats both alike: the good rows'
        outputs (a list, in row order) and each failed row's ``(row, stage, exception)``.
        Failures are not counted here: their maker counts them.
        """
        items = [_new(Item, (row, example)) for row, example in enumerate(examples)]
        ok = np.zeros(len(items), dtype=bool)
        outputs: list[Any] = []
        failures: list[tuple[int, str, Exception]] = []
        max_bytes = self.handler.config.max_batch_bytes
        for call in plan_calls(items, self.call_size(), max_bytes):
            for item, output in zip(
                call, self._run_isolated(call, top=True), strict=True
            ):
                if type(output) is RowFailed:
                    failures.append((item.key, output.stage, output.cause))
                else:
                    ok[item.key] = True
                    outputs.append(output)
        return BlockRun(ok, outputs if outputs else None, failures)

    # -- plain examples ----------------------------------------------------------------------

    def _run_isolated(self, items: list[Item], *, top: bool = False) -> list[Any]:
        """Each item's output, or a :class:`RowFailed` for each item that fails (a failed call
        is bisected so that only the items that make it fail fail)."""
        size = self.call_size()
        if len(items) > size:  # the limit went down (out of memory) since the call was planned
            return [
                result
                for part in chunks(items, size)
                for result in self._run_isolated(list(part), top=top)
            ]
        try:
            return self._run_once(items)
        except _StageFailed as failed:
            out_of_memory = self._out_of_memory(failed.cause)
            if out_of_memory and len(items) > 1 and not self.fixed:
                self._lower_cap(len(items), failed)
                return self._run_isolated(items, top=top)
            if len(items) == 1 or out_of_memory or isinstance(failed.cause, BatchError):
                return [RowFailed(item, failed.stage, failed.cause) for item in items]
            self.metrics.counter("bisections")
            middle = len(items) // 2
            results = self._run_isolated(items[:middle])
            results += self._run_isolated(items[middle:])
            if top:
                self._report_bisection(len(items), failed, results)
            return results

    def _run_once(self, items: list[Item]) -> list[Any]:
        examples = [item.example for item in items]
        called = padded(examples, self.fixed) if self.fixed else examples
        start = self.clock()
        native = self._stage("batch", self.handler.batch, called)
        outputs = self._stage("run", self._run, native)
        predictions = self._stage("postprocess", self._postprocess, called, outputs)
        if len(called) > len(items):
            self.metrics.counter("padded_examples", len(called) - len(items))
        self._record_call(len(called), start)
        results: list[Any] = [
            self._output_failure(item, output) if isinstance(output, Exception) else output
            for item, output in zip(items, predictions, strict=False)  # padding dropped
        ]
        failed = sum(type(result) is RowFailed for result in results)
        self.metrics.counter("inferences", len(results) - failed)
        return results

    def _output_failure(self, item: Item, output: Exception) -> RowFailed:
        """The failure of an example whose prediction slot holds an exception."""
        stage = getattr(output, "stage", None)
        stage = stage if isinstance(stage, str) and stage else "run"
        return RowFailed(item, stage, output)

    def _postprocess(self, examples: list[Any], outputs: Any) -> list[Any]:
        returned = self.handler.postprocess(examples, outputs)
        return predictions_list(returned, len(examples), self.node)

    # -- blocks ------------------------------------------------------------------------------

    def run_block(self, block: Block) -> BlockRun:
        """Run every row of ``block`` in model calls of at most :meth:`call_size` rows.

        A call that fails is bisected by rows, so that only the rows that cause the failure
        fail (a :class:`BatchError` fails its rows without bisection; an out-of-memory error
        lowers the batch limit and runs the rows again in smaller calls); the good rows'
        outputs come back as one output block, in row order.
        """
        done = _Rows()
        self._run_rows(block, 0, block.rows, done)
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
        """Rows ``start:stop`` in calls of :meth:`call_size` rows, bisecting failed calls."""
        size = self.call_size()
        if stop - start > size:
            for begin in range(start, stop, size):
                self._run_rows(block, begin, min(begin + size, stop), done)
            return
        chunk = block if (start, stop) == (0, block.rows) else block.slice(start, stop)
        try:
            done.parts.append(self._run_chunk(chunk))
        except _StageFailed as failed:
            rows = stop - start
            if not rows:  # a block of no rows: no row to fail, nothing to bisect
                return
            out_of_memory = self._out_of_memory(failed.cause)
            if out_of_memory and rows > 1 and not self.fixed:
                self._lower_cap(rows, failed)
                self._run_rows(block, start, stop, done)
                return
            if rows == 1 or out_of_memory or isinstance(failed.cause, BatchError):
                done.failures.extend((r, failed.stage, failed.cause) for r in range(start, stop))
                return
            self.metrics.counter("bisections")
            middle = (start + stop) // 2
            self._run_rows(block, start, middle, done)
            self._run_rows(block, middle, stop, done)
            return
        done.good.append(np.arange(start, stop))

    def _run_chunk(self, chunk: Block) -> Any:
        called = padded_block(chunk, self.fixed) if self.fixed else chunk
        start = self.clock()
        native = self._stage("batch", self.handler.batch_block, called)
        outputs = self._stage("run", self._run, native)
        output = self._stage("postprocess", self._block_rows, called, outputs)
        if called.rows > chunk.rows:
            self.metrics.counter("padded_examples", called.rows - chunk.rows)
            output = first_rows(output, chunk.rows)
        self._record_call(called.rows, start)
        return output

    def _block_rows(self, block: Block, outputs: Any) -> Any:
        return block_rows(self.handler.block_output(block, outputs), block.rows, self.node)

    # -- helpers -----------------------------------------------------------------------------

    def _run(self, native: Any) -> Any:
        if self._timed is None:
            return self.handler.run(self.model, native)
        try:
            return self._timed.call(self.handler.run, self.model, native)
        except ModelTimeoutError:
            self.metrics.counter("timeouts")
            raise

    def _stage(self, stage: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            raise _StageFailed(stage, exc) from exc

    def _fixed_batch_size(self) -> int | None:
        try:
            size = self.handler.fixed_batch_size(self.model)
        except Exception as exc:
            _log_once(
                self.node,
                "fixed-error",
                "handler %r: fixed_batch_size() raised %s: %s; batches are not padded",
                self.node,
                type(exc).__name__,
                exception_text(exc, 300, self.handler.redact),
            )
            return None
        if size is None or isinstance(size, bool) or not isinstance(size, int) or size < 1:
            return None
        _log_once(
            self.node,
            "fixed",
            "handler %r: the model takes batches of exactly %d; every call gets %d examples "
            "(rows), the last partial batch padded with copies of its last example",
            self.node,
            size,
            size,
            level=logging.INFO,
        )
        return size

    def _out_of_memory(self, exc: Exception) -> bool:
        try:
            return bool(self.handler.is_out_of_memory(exc))
        except Exception:
            return False

    def _lower_cap(self, size: int, failed: _StageFailed) -> None:
        cap = BATCH_CAPS.lower(self.key, size // 2)
        self.metrics.counter("oom_splits")
        logger.warning(
            "handler %r ran out of memory on a batch of %d in stage %r (%s: %s); its batches "
            "are now at most %d in this process",
            self.node,
            size,
            failed.stage,
            type(failed.cause).__name__,
            exception_text(failed.cause, 300, self.handler.redact),
            cap,
        )

    def _report_bisection(self, size: int, failed: _StageFailed, results: list[Any]) -> None:
        saved = sum(type(result) is not RowFailed for result in results)
        if not saved:
            return
        _log_once(
            self.node,
            "bisection",
            "handler %r: a batch of %d failed in stage %r (%s: %s); bisecting it saved %d "
            "examples and failed %d. Bisection costs extra model calls (metric 'bisections'); "
            "if many batches need it, check the inputs, or whether the model takes a fixed "
            "batch size. Logged once per handler",
            self.node,
            size,
            failed.stage,
            type(failed.cause).__name__,
            exception_text(failed.cause, 300, self.handler.redact),
            saved,
            size - saved,
        )

    def _record_call(self, rows: int, start: float) -> None:
        self.metrics.counter("model_calls")
        for name, value in self.handler.take_counts(self.model).items():
            self.metrics.counter(name, value)
        self.metrics.distribution("batch_size", rows)
        self.metrics.distribution("batch_latency_us", int((self.clock() - start) * 1_000_000))

def _log_once(node: str, kind: str, message: str, *args: Any, level: int = logging.WARNING) -> None:
    with _logged_lock:
        if (node, kind) in _logged:
            return
        _logged.add((node, kind))
    logger.log(level, message, *args)
